"""The package's public surface and the generated sync code."""

from __future__ import annotations

import sessionserver
import sessionserver.client
import sessionserver.exceptions
from tests.tools import unasync


def test_exported_members() -> None:
    for module in (sessionserver, sessionserver.client, sessionserver.exceptions):
        public = sorted(
            name
            for name in vars(module)
            if not name.startswith("_")
            and getattr(getattr(module, name), "__module__", "").startswith(module.__name__)
            and isinstance(getattr(module, name), type)
        )
        assert set(public) <= set(module.__all__), (module.__name__, public)
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_the_sync_client_is_generated_from_the_async_one() -> None:
    """Run `python -m tests.tools.unasync` after changing the async client or its tests."""
    assert unasync.main(["--check"]) == 0

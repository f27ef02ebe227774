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


def test_every_exception_of_the_package_is_in_the_one_tree() -> None:
    import importlib
    import pkgutil

    from sessionserver.exceptions import SessionServerError
    from sessionserver.protocol.resp import ReplyError

    outside = []
    for info in pkgutil.walk_packages(sessionserver.__path__, "sessionserver."):
        if info.name == "sessionserver.__main__" or info.name.startswith(
            ("sessionserver.integrations", "sessionserver.bench")
        ):
            continue  # runs the CLI; need their frameworks set up; no exceptions there
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("sessionserver")
                and not value.__name__.startswith("_")  # control flow inside one module
                # a reply value hiredis builds (it wants an Exception class); never raised
                and value is not ReplyError
                and not issubclass(value, SessionServerError)
            ):
                outside.append(f"{value.__module__}.{value.__qualname__}")
    assert outside == []

"""sessionserver.futures: handing a settled future's outcome on."""

from __future__ import annotations

import asyncio
import gc
from functools import partial
from typing import Any

import pytest

from sessionserver.futures import settle_from

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_outcome_goes_on() -> None:
    loop = asyncio.get_running_loop()
    for outcome in ("result", "exception", "cancelled"):
        done, target = loop.create_future(), loop.create_future()
        done.add_done_callback(partial(settle_from, target))
        if outcome == "result":
            done.set_result(7)
        elif outcome == "exception":
            done.set_exception(KeyError("k"))
        else:
            done.cancel()
        await asyncio.sleep(0)  # the done-callback runs
        if outcome == "result":
            assert target.result() == 7
        elif outcome == "exception":
            assert isinstance(target.exception(), KeyError)
        else:
            assert target.cancelled()


async def test_an_exception_nobody_waits_for_any_more_is_not_logged_as_never_retrieved() -> None:
    """A store call whose caller left (the client hung up) and which then failed: the error
    is the failing code's to log, never asyncio's 'exception was never retrieved'."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        done, target = loop.create_future(), loop.create_future()
        done.add_done_callback(partial(settle_from, target))
        target.cancel()  # the caller left
        done.set_exception(ConnectionError("redis: connection lost"))
        await asyncio.sleep(0)
        del done, target
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert reported == []

"""One rule for handing a settled future's outcome on, shared by the daemon's step chaining
(``server/eager.py``) and the Redis connection's follow-up calls."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["settle_from"]


def settle_from(target: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
    """Give ``target`` the outcome of ``done`` (a result, an exception or a cancellation),
    unless ``target`` is settled already (its caller left: an exception of ``done`` is then
    taken as seen, since nobody else will look; whoever raised it logs what it means); a
    done-callback of ``done`` through ``partial``."""
    if target.done():
        if not done.cancelled():
            done.exception()
        return
    if done.cancelled():
        target.cancel()
    elif (exc := done.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(done.result())

"""One connection to the daemon: send pipelined requests, read exactly their replies."""

from __future__ import annotations

from typing import Any

from ...exceptions import ProtocolError, ReadTimeout
from ...protocol.resp import INCOMPLETE, RespProtocolError
from .._backends import AsyncStream
from .._codec import new_parser

__all__ = ["AsyncConnection"]


class AsyncConnection:
    """A stream and its reply parser.

    ``reusable`` is True only between exchanges: a connection whose exchange did not finish
    (an error, a timeout, a cancellation) may still have a reply on the wire and must never go
    back to the pool, or the next borrower would read someone else's reply.
    """

    __slots__ = ("_parser", "generation", "reusable", "stream", "timeout")

    def __init__(self, stream: AsyncStream, timeout: float, generation: int = 0) -> None:
        self.stream = stream
        self.timeout = timeout
        #: The pool's generation when this was opened; a closed pool moved on.
        self.generation = generation
        self._parser = new_parser()
        self.reusable = True

    @property
    def address(self) -> str:
        return self.stream.address

    async def request(self, payload: bytes, count: int) -> list[Any]:
        """Send ``payload`` (``count`` requests) and return their ``count`` replies, error
        replies included (as ``ReplyError``).

        Raises:
            ReadTimeout, ConnectionLost, ProtocolError: the connection is then unusable.
        """
        self.reusable = False
        stream = self.stream
        parser = self._parser
        replies: list[Any] = []
        try:
            with stream.deadline(self.timeout):
                await stream.write(payload)
                while len(replies) < count:
                    reply = parser.get()
                    if reply is INCOMPLETE:
                        data = await stream.read()
                        if not data:
                            raise stream.eof()
                        parser.feed(data)
                    else:
                        replies.append(reply)
        except TimeoutError:
            raise ReadTimeout(f"no reply from {stream.address} within {self.timeout:g} s") from None
        except RespProtocolError as exc:
            raise ProtocolError(f"{stream.address} sent a malformed reply: {exc}") from None
        self.reusable = True
        return replies

    def close(self) -> None:
        """Close at once, from anywhere (another event loop, a forked child)."""
        self.reusable = False
        self.stream.close()

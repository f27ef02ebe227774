"""The sans-I/O wire protocol shared by the daemon and the clients (see README.md here)."""

from __future__ import annotations

from .commands import COMMANDS, Command
from .replies import ERRORS, Err
from .text import CODEC_ERROR, TextClientCodec, TextServerCodec, encode_reply

__all__ = [
    "CODEC_ERROR",
    "COMMANDS",
    "ERRORS",
    "Command",
    "Err",
    "TextClientCodec",
    "TextServerCodec",
    "encode_reply",
]

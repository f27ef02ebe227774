"""The container's SQL, kept in ``sql/*.sql`` (package data), rendered once per storage.

Each file is one statement taking its parameters by name (``%(name)s``); ``{...}`` are filled
in when a storage is made: the schema's tables, the daemon's lifetimes and user keys, and a
few shared expressions.  ``schema.sql`` holds the DDL, its statements separated by lines of ``;``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from psycopg import sql

__all__ = ["BATCH", "TABLES", "Rendered", "render"]

#: Rows deleted per purge, gc and lock sweep statement.
BATCH = 1000
TABLES = ("sessions", "times", "locks")

#: The database's clock, in seconds since the epoch (lock leases are judged by it).
_CLOCK = "extract(epoch FROM clock_timestamp())::float8"
#: A session's deadline after an access at ``now`` (``created``/``ttl`` are the row's).
_DEADLINE = "least(%(now)s + coalesce(ttl, {ttl}), created + {maxlife})"


@cache
def _texts() -> dict[str, str]:
    """Every ``.sql`` file of the package by name, comment lines dropped."""
    texts = {}
    for entry in files(__package__).joinpath("sql").iterdir():
        if entry.name.endswith(".sql"):
            lines = entry.read_text(encoding="utf-8").splitlines()
            texts[entry.name[:-4]] = "\n".join(
                line for line in lines if not line.lstrip().startswith("--")
            )
    return texts


class Rendered:
    """One schema's statements, ready to send: ``ddl`` (a list) and ``queries`` by name."""

    __slots__ = ("ddl", "queries")

    def __init__(self, ddl: list[bytes], queries: dict[str, bytes]) -> None:
        self.ddl = ddl
        self.queries = queries


def render(
    schema: str, ttl: int, max_lifetime: int | None, user_keys: tuple[bytes, ...]
) -> Rendered:
    names: dict[str, sql.Composable] = {
        "user_keys": sql.SQL("ARRAY[{}]::bytea[]").format(
            sql.SQL(", ").join(sql.Literal(key) for key in user_keys)
        ),
        "schema": sql.Identifier(schema),
        "ttl": sql.Literal(ttl),
        "maxlife": sql.Literal(None if max_lifetime is None else float(max_lifetime)),
        "batch": sql.Literal(BATCH),
        "clock": sql.SQL(_CLOCK),
        **{table: sql.Identifier(schema, table) for table in TABLES},
    }
    names["deadline"] = sql.SQL(_DEADLINE).format(**names)
    texts = dict(_texts())
    ddl = [
        sql.SQL(part.strip()).format(**names).as_bytes()
        for part in texts.pop("schema").split("\n;\n")
    ]
    queries = {name: sql.SQL(text).format(**names).as_bytes() for name, text in texts.items()}
    return Rendered(ddl, queries)

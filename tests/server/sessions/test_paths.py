"""Property: the fast steps and the general steps give the same reply for the same request.

The inline strategy (``memory://``, the embedded default) answers at once and skips the lock
of a one-command write while nobody holds it; the local strategy (a store whose calls wait)
takes every step.  Random sequences of requests, keys that break the key rule, values and
sessions at the limits, and a clock that moves, must give identical replies through both, and
the same request must give the same reply in the text framing and in RESP2.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from sessionserver import phpserialize
from sessionserver.protocol.replies import Err, Timed
from sessionserver.server.sessions.limits import Limits
from sessionserver.server.sessions.state import READ, WRITE

from .conftest import Stack, make_stack, request, settle

LIMITS = Limits(max_value=8, max_keys=3, max_session=24)

keys = hs.sampled_from([b"a", b"b", b"c", b"d", b"", b"a|b", b"a b", b"x\ny", b"k" * 9])
values = hs.sampled_from([b"", b"1", b"22", b"12345678", b"123456789", b"v v"])
pairs = hs.dictionaries(keys, values, max_size=4)
ttls = hs.sampled_from([None, 1, 60, 3600])
slots = hs.integers(0, 3)  # which of the sessions created so far (or an unknown id)

ops = hs.one_of(
    hs.tuples(hs.just("new")),
    hs.tuples(hs.just("open"), slots, hs.sampled_from([READ, WRITE])),
    hs.tuples(hs.just("put"), keys, values),
    hs.tuples(hs.just("remove"), keys),
    hs.tuples(hs.just("put_all"), pairs),
    hs.tuples(hs.just("commit")),
    hs.tuples(hs.just("close")),
    hs.tuples(hs.just("abort")),
    hs.tuples(hs.just("destroy")),
    hs.tuples(hs.just("regenerate")),
    hs.tuples(hs.just("write"), slots, pairs, hs.lists(keys, max_size=2), ttls, hs.booleans()),
    hs.tuples(hs.just("read"), slots, hs.booleans()),
    hs.tuples(hs.just("create"), pairs, ttls),
    hs.tuples(hs.just("ttl"), hs.sampled_from([None, 30, 5000])),
    hs.tuples(hs.just("tick"), hs.sampled_from([1.0, 45.0, 200.0])),
    # a second connection that holds a session's lock for a while
    hs.tuples(hs.just("hold"), slots),
    hs.tuples(hs.just("let go")),
)

UNKNOWN = b"0123456789abcdef0123456789abcdef"


async def _run(stack: Stack, program: list[tuple[Any, ...]]) -> list[Any]:
    m = stack.manager
    st = stack.connection()
    other = stack.connection()
    ids: list[bytes] = []
    seen: list[Any] = []

    def sid(slot: int) -> bytes:
        return ids[slot] if slot < len(ids) else UNKNOWN

    def norm(reply: Any) -> Any:
        if isinstance(reply, bytes) and len(reply) == 32 and reply not in ids:
            ids.append(reply)
        if isinstance(reply, bytes) and reply in ids:
            return ("id", ids.index(reply))
        if isinstance(reply, Timed):
            return ("timed", reply.seconds, reply.value)
        if isinstance(reply, Err):
            return reply.name
        return reply

    for op in program:
        name = op[0]
        needs_session = name in {"put", "remove", "put_all", "commit", "close", "abort"}
        needs_session |= name in {"destroy", "regenerate", "ttl"}
        if needs_session and st.sid is None:
            seen.append("no session")
            continue
        if name == "new":
            reply = m.new(st)
        elif name == "open":
            reply = m.open(st, sid(op[1]), op[2])
        elif name == "put":
            reply = m.put(st, op[1], op[2])
        elif name == "remove":
            reply = m.remove(st, op[1])
        elif name == "put_all":
            reply = m.put_all(st, dict(op[1]))
        elif name == "commit":
            reply = m.finish(st, False)
        elif name == "close":
            reply = m.finish(st, True)
        elif name == "abort":
            m.abort(st)
            reply = None
        elif name == "destroy":
            reply = m.destroy(st)
        elif name == "regenerate":
            reply = m.regenerate(st)
        elif name == "write":
            reply = m.write(st, sid(op[1]), dict(op[2]), list(op[3]), op[4], with_ttl=op[5])
        elif name == "read":
            reply = m.read(sid(op[1]), with_ttl=op[2])
        elif name == "create":
            reply = m.create(st, dict(op[1]), op[2])
        elif name == "ttl":
            reply = m.get_ttl(st) if op[1] is None else m.set_ttl(st, op[1])
        elif name == "hold":
            reply = m.open(other, sid(op[1]), WRITE) if other.sid is None else "busy"
        elif name == "let go":
            reply = m.finish(other, True) if other.sid is not None else "idle"
        else:
            stack.clock.advance(op[1])
            await stack.manager.strategy.tick(stack.clock())
            reply = "ticked"
        seen.append(norm(await settle(reply)))
    seen.append(("open", st.sid is not None, st.mode, dict(st.data)))
    return seen


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.lists(ops, max_size=25))
def test_inline_and_general_steps_give_the_same_replies(program: list[tuple[Any, ...]]) -> None:
    async def both() -> tuple[list[Any], list[Any]]:
        # A writer waiting for the other connection's lock gives up after 10 ms.
        fast = make_stack("inline", ttl=100, limits=LIMITS, lock_timeout=0.01)
        general = make_stack("local", ttl=100, limits=LIMITS, lock_timeout=0.01)
        return await _run(fast, program), await _run(general, program)

    fast, general = asyncio.run(both())
    assert fast == general


def _text_line(name: bytes, *args: bytes) -> bytes:
    return b" ".join([name, *args])


@settings(max_examples=200, deadline=None)
@given(
    hs.dictionaries(
        hs.sampled_from([b"a", b"b", b"c", b"d", b"", b"a|b", b"k" * 9]), values, max_size=4
    ),
    hs.lists(hs.sampled_from([b"a", b"b", b"zz"]), max_size=2),
    ttls,
)
def test_text_and_resp_framings_give_the_same_replies(
    changes: dict[bytes, bytes], removed: list[bytes], ttl: int | None
) -> None:
    # (A key both set and removed is one null entry in PHP's array: not the same request.)
    removed = [key for key in removed if key not in changes]

    async def both() -> tuple[Any, Any]:
        results = []
        for resp in (False, True):
            s = make_stack("inline", ttl=100, limits=LIMITS)
            st = s.connection()
            sid = await settle(s.manager.create(st, {b"a": b"1", b"b": b"2"}, None))
            if resp:
                lifetime = [] if ttl is None else [b"ttl", b"%d" % ttl]
                flat = [x for kv in changes.items() for x in kv]
                line: Any = [b"write", sid, *lifetime, b"%d" % len(changes), *flat, *removed]
            else:
                php = phpserialize.dumps(changes)[:-1] + b"".join(
                    b's:%d:"%s";N;' % (len(k), k) for k in removed
                )
                count = len(changes) + len(removed)
                php = b"a:%d:" % count + php.split(b":", 2)[2] + b"}"
                lifetime_text = b"" if ttl is None else b"ttl %d " % ttl
                line = b"write " + sid + b" " + lifetime_text + php
            reply = await settle(request(st, line))
            stored = await settle(s.manager.read(sid))
            left = await settle(s.manager.admin.expires(sid))
            results.append((reply.name if isinstance(reply, Err) else reply, stored, left))
        return results[0], results[1]

    text, resp = asyncio.run(both())
    assert text == resp

"""The HTML around every page of the shop, whichever framework serves it: the same menu, the
signed-in user and the cart from the shared session, and which front-end process answered."""

from __future__ import annotations

import os
from html import escape
from typing import Any

__all__ = ["FRONT_END", "button", "items", "page"]

#: Which clone this process is (``shop-1``, ``cart-2``...), set by the stack.
FRONT_END = os.environ.get("FRONT_END", "dev")

_MENU = (
    ("/account/", "Account (Django)"),
    ("/shop/", "Shop (Flask)"),
    ("/cart/", "Cart (FastAPI)"),
)


def items(names: Any) -> str:
    """A list of items as HTML (``names`` comes from a session: a list of strings)."""
    rows = "".join(f"<li>{escape(str(name))}</li>" for name in names or [])
    return f"<ul>{rows}</ul>" if rows else "<p>(empty)</p>"


def button(action: str, label: str, **fields: str) -> str:
    """A form of one button that POSTs ``fields`` to ``action``."""
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    return (
        f'<form method="post" action="{escape(action)}">{hidden}'
        f"<button>{escape(label)}</button></form>"
    )


def page(title: str, body: str, session: Any, framework: str) -> str:
    """A whole page: ``body`` (HTML) under the menu; ``session`` is the framework's session."""
    user = session.get("_user_id")
    who = (
        f'signed in as <b id="user">{escape(str(user))}</b>'
        if user
        else ('<span id="user">not signed in</span>')
    )
    menu = " | ".join(f'<a href="{href}">{label}</a>' for href, label in _MENU)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:40em}}
form{{display:inline-block;margin:.2em}}footer{{margin-top:2em;color:#666}}</style></head>
<body><nav>{menu}</nav>
<p>{who}; cart: <b id="cart-count">{len(session.get("cart") or [])}</b> items</p>
<h1>{escape(title)}</h1>
{body}
<footer id="served-by" data-front-end="{escape(FRONT_END)}" data-pid="{os.getpid()}">
served by {escape(framework)}, front end {escape(FRONT_END)} (pid {os.getpid()})</footer>
</body></html>
"""

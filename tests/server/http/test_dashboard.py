"""The dashboard, driven in headless Chromium (Debian's, through Playwright): its figures follow
the daemon live without a reload, a user's sessions are looked up and logged out everywhere.
Screenshots are kept under the test's tmp dir (the path is printed)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from ...conftest import StartDaemon
from ...helpers import Daemon

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN = "dashboard-t0ken"


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> Daemon:
    return start_daemon(
        "--storage",
        "memory://",
        "--admin-port",
        "0",
        "--lock-timeout",
        "0.3",
        env={"SESSIONSERVER_ADMIN_TOKEN": TOKEN},
    )


@contextlib.contextmanager
def browser(tmp_path: Path, **options: Any) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
            **options,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    # The token as a person gives it: the browser's own login prompt (HTTP Basic).
    with browser(tmp_path, http_credentials={"username": "admin", "password": TOKEN}) as context:
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        yield page
        assert problems == []  # no script error, no failed request


def shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def figure(page: Page, metric: str) -> Any:
    return page.locator(f'[data-metric="{metric}"]').first


def test_the_figures_follow_the_daemon_live(daemon: Daemon, page: Page, tmp_path: Path) -> None:
    page.goto(daemon.admin_url())
    expect(page.locator("#ready")).to_have_text("ready")
    expect(figure(page, "sessionserver_sessions")).to_have_text("0")
    expect(page.locator("#store-state")).to_have_text("up")
    reloads: list[str] = []
    page.on("load", lambda _: reloads.append("load"))

    with daemon.client() as c, daemon.client() as other:
        sids = [c.new_session(_user_id=json.dumps("alice"), cart="3") for _ in range(3)]
        # The numbers change where they are, without a reload.
        expect(figure(page, "sessionserver_sessions")).to_have_text("3", timeout=10_000)
        expect(figure(page, "sessionserver_connections")).to_have_text("2")
        expect(figure(page, "sessionserver_sessions_created_total")).to_have_text("3")
        # A lock wait that times out, and an error.
        assert c.cmd(f"open {sids[0]} w") == "ok"
        assert other.cmd(f"open {sids[0]} w") == "err Session is locked."
        assert c.cmd("close") == "ok"
        expect(figure(page, "sessionserver_lock_waits_total")).to_have_text("1", timeout=10_000)
        expect(figure(page, "sessionserver_lock_timeouts_total")).to_have_text("1")
        expect(figure(page, "sessionserver_errors_total")).to_have_text("1")
        errors = page.locator(
            '#errors [data-metric="sessionserver_errors_total{reply=\\"locked\\"}"]'
        )
        expect(errors).to_have_text("1")
        # Traffic: the rate of commands is a plain number above zero.
        stop = threading.Event()

        def traffic() -> None:
            with daemon.client() as busy:
                while not stop.is_set():
                    busy.pipeline(f"open {sids[1]} r", "get cart", "close")

        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            rate = figure(page, "rate(sessionserver_commands_total)")
            page.wait_for_function(
                "el => Number(el.textContent) > 0", arg=rate.element_handle(), timeout=10_000
            )
            # The slowest commands are listed (the 0.3 s lock wait first), by id prefix only.
            first = page.locator("#slowest tbody tr").first
            expect(first.locator("td").nth(0)).to_have_text("open")
            expect(first.locator("td").nth(2)).to_have_text(sids[0][:8])
            assert float(first.locator("td").nth(1).inner_text()) >= 300
            names = page.locator("#commands tbody tr td:first-child")
            for name in ("new", "put", "close", "open", "get"):
                expect(names.filter(has_text=re.compile(f"^{name}$"))).to_have_count(1)
            shot(page, tmp_path, "dashboard")
        finally:
            stop.set()
            thread.join(10)
    assert sids[0] not in page.content()  # whole ids are never shown
    assert reloads == []


def test_a_user_is_looked_up_and_logged_out_everywhere(
    daemon: Daemon, page: Page, tmp_path: Path
) -> None:
    with daemon.client() as c:
        alice = [c.new_session(_user_id=json.dumps("alice")) for _ in range(2)]
        bob = c.new_session(_user_id=json.dumps("bob"))
    page.goto(daemon.admin_url())
    page.fill("#user-id", "alice")
    page.click("text=Look up")
    expect(page.locator("#user-count")).to_have_text("2")
    listed = page.locator("#user-sessions tbody tr td:first-child").all_inner_texts()
    assert sorted(listed) == sorted(sid[:8] for sid in alice)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#logout")
    expect(page.locator("#logout-result")).to_have_text("Logged out: 2 destroyed.")
    expect(page.locator("#user-count")).to_have_text("0")
    shot(page, tmp_path, "logged-out")
    with daemon.client() as c:
        for sid in alice:
            assert c.cmd(f"open {sid} r") == "err Could not open session."
        assert c.cmd(f"open {bob} r") == "ok"  # nobody else's
    expect(figure(page, "sessionserver_sessions_destroyed_total")).to_have_text("2")


def test_without_the_token_the_browser_gets_no_figures(daemon: Daemon, tmp_path: Path) -> None:
    with browser(tmp_path) as context:
        url = daemon.admin_url()
        for path in ("/", "/api/overview", "/metrics", "/static/dashboard.js"):
            assert context.request.get(url + path).status == 401
        # Headless, the browser cannot ask a person for the token: the page does not load.
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            context.new_page().goto(url)


def test_a_wrong_token_gets_the_refusal(daemon: Daemon, tmp_path: Path) -> None:
    with browser(tmp_path, http_credentials={"username": "a", "password": "wrong"}) as context:
        page = context.new_page()
        response = page.goto(daemon.admin_url())
        assert response is not None and response.status == 401
        assert "sessionserver_sessions" not in page.content()

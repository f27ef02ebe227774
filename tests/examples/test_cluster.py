"""examples/cluster, as a person would use it: started with its one command, a shop driven in
headless Chromium (Debian's, through Playwright) across nginx, cloned Django, Flask and FastAPI
front ends and two daemons on a Redis Cluster; a front end and a daemon killed in the middle of
the session, which goes on; the dashboard showing the sessions; a log-out everywhere; stopped
with its other command, leaving nothing running.  Screenshots are kept under the test's tmp dir
(the paths are printed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ..helpers import wait_until
from ..server.http.test_dashboard import ARGS, CHROMIUM, figure

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.cluster", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def everything(info: dict[str, Any]) -> list[int]:
    """Every process the example says it started."""
    return [
        info["supervisor"],
        info["nginx"]["pid"],
        *(f["pid"] for f in info["front_ends"]),
        *(d["pid"] for d in info["daemons"]),
        *info["redis"]["pids"],
    ]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    state = tmp_path / "cluster"
    up = cli("up", "--state", str(state))
    assert up.returncode == 0, up.stderr + up.stdout
    assert "shop:" in up.stdout and "dashboards:" in up.stdout
    info: dict[str, Any] = json.loads((state / "state.json").read_text())
    try:
        yield info
    finally:
        down = cli("down", "--state", str(state))
        assert down.returncode == 0, down.stderr
        left = [pid for pid in everything(info) if alive(pid)]
        assert left == [], f"still running: {left}"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def served_by(page: Page) -> str:
    front_end = page.locator("#served-by").get_attribute("data-front-end")
    assert front_end is not None
    return front_end


def sign_in(page: Page, base: str, name: str, password: str) -> None:
    page.goto(base)  # nginx sends / to the Django account site
    expect(page.locator("#user")).to_have_text("not signed in")
    assert served_by(page).startswith("account-")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("#sign-in")


def cart(page: Page) -> list[str]:
    return page.locator("h2 + ul li").all_inner_texts()


def test_the_shop_survives_a_front_end_and_a_daemon(
    cluster: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    base = cluster["url"]
    laptop = browser.new_context(viewport={"width": 1000, "height": 700}).new_page()
    phone = browser.new_context(viewport={"width": 400, "height": 700}).new_page()

    # Sign in on the Django site, fill the cart from the Flask shop and the FastAPI cart.
    sign_in(laptop, base, "alice", "wonderland")
    laptop.wait_for_url(base + "shop/")
    expect(laptop.locator("#user")).to_have_text("alice")
    laptop.click("text=Add apple")
    expect(laptop.locator("#cart-count")).to_have_text("1")
    laptop.click("text=Add pear")
    expect(laptop.locator("#cart-count")).to_have_text("2")
    laptop.goto(base + "cart/")
    assert served_by(laptop).startswith("cart-")
    laptop.click("text=Add basket")
    expect(laptop.locator("#cart-count")).to_have_text("3")
    assert cart(laptop) == ["apple", "pear", "basket"]

    # Every request may land on any clone: nginx takes them in turn.
    shops = set()
    for _ in range(4):
        laptop.goto(base + "shop/")
        expect(laptop.locator("#cart-count")).to_have_text("3")
        shops.add(served_by(laptop))
    assert shops == {"shop-1", "shop-2"}

    # In the middle of the session: the shop clone that served the last page dies, and so does
    # the daemon every client talks to first.
    victim = next(f for f in cluster["front_ends"] if f["name"] == served_by(laptop))
    first = cluster["daemons"][0]
    os.killpg(victim["pid"], signal.SIGKILL)
    os.kill(first["pid"], signal.SIGKILL)
    wait_until(lambda: refused(victim["port"]) and refused(first["port"]), what="the kills")

    # The session and the cart go on, on the other clone and the other daemon.
    for _ in range(2):
        laptop.goto(base + "shop/")
        expect(laptop.locator("#user")).to_have_text("alice")
        expect(laptop.locator("#cart-count")).to_have_text("3")
        assert served_by(laptop) != victim["name"]
    laptop.click("text=Add fig")
    expect(laptop.locator("#cart-count")).to_have_text("4")
    laptop.goto(base + "cart/")
    assert cart(laptop) == ["apple", "pear", "basket", "fig"]
    shot(laptop, tmp_path, "cart-after-the-kills")
    laptop.click("text=Check out")
    expect(laptop.locator("#order")).to_contain_text("Order 1")
    expect(laptop.locator("#cart-count")).to_have_text("0")
    laptop.goto(base + "account/")
    expect(laptop.locator("#orders > li")).to_have_count(1)
    expect(laptop.locator("#orders > li").first).to_contain_text("apple")
    expect(laptop.locator("#orders > li").first).to_contain_text("fig")
    shot(laptop, tmp_path, "account")

    # Alice signs in on her phone too (a wrong password first); the surviving daemon's
    # dashboard shows both sessions.
    sign_in(phone, base, "alice", "rabbit hole")
    expect(phone.locator("#error")).to_have_text("Unknown name or wrong password.")
    expect(phone.locator("#user")).to_have_text("not signed in")
    sign_in(phone, base, "alice", "wonderland")
    expect(phone.locator("#user")).to_have_text("alice")
    dashboard = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    dashboard.goto(cluster["daemons"][1]["admin"])
    expect(figure(dashboard, "sessionserver_sessions")).to_have_text("2", timeout=10_000)
    dashboard.fill("#user-id", "alice")
    dashboard.click("text=Look up")
    expect(dashboard.locator("#user-count")).to_have_text("2")
    shot(dashboard, tmp_path, "dashboard")

    # Sign out everywhere, from the laptop: the phone is signed out too.
    laptop.click("text=Sign out everywhere")
    expect(laptop.locator("#user")).to_have_text("not signed in")
    phone.goto(base + "shop/")
    expect(phone.locator("#user")).to_have_text("not signed in")
    dashboard.click("text=Look up")
    expect(dashboard.locator("#user-count")).to_have_text("0")
    expect(figure(dashboard, "sessionserver_sessions")).to_have_text("0", timeout=10_000)
    shot(dashboard, tmp_path, "dashboard-signed-out")

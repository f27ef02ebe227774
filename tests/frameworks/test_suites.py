"""Django's, Flask's and Starlette's own session tests, from their sdists, unmodified, against
the adapters and a real daemon.

Each suite runs in its own process with its own runner and configuration (Django's
``runtests.py``, the frameworks' pytest settings with ``filterwarnings = error``), pointed at
the adapters the way third-party backends do it: a settings module for Django, a plugin that
swaps the session interface or middleware for Flask and Starlette (``plugins/``).  Every
selected test must pass; the README gives the counts.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import Daemon
from .sdists import unpacked

PLUGINS = Path(__file__).parent / "plugins"

# Tests deselected from the selections below, each with the reason it does not exercise a
# session backend.  Nothing else is left out.
FLASK_DESELECTED = {
    "tests/test_basic.py::test_session_secret_key_fallbacks": (
        "rotates the key that signs a cookie holding the session's data; the adapter's "
        "cookie holds a random id that nothing signs, so no key plays a part"
    ),
}
STARLETTE_DESELECTED: dict[str, str] = {}

DJANGO_DESELECTED = {
    "sessions_tests.tests.SessionMiddlewareTests.test_empty_session_saved": (
        "reads the row Django's database backend wrote (Session.objects.get): a table this "
        "engine never uses"
    ),
}

# The Django tests: the mixin twice (plugins/suite_django_tests.py), the middleware's tests and
# the test client's session tests.
DJANGO_LABELS = [
    "suite_django_tests",
    "sessions_tests.tests.SessionMiddlewareTests",
    "test_client_regress.tests.SessionTests",
    "test_client.tests.ClientTest.test_session_modifying_view",
]


def _django_labels(tests: Path) -> list[str]:
    """The labels, a class with a deselected test spelled out as its other tests."""
    labels = []
    for label in DJANGO_LABELS:
        left_out = [t for t in DJANGO_DESELECTED if t.startswith(label + ".")]
        if not left_out:
            labels.append(label)
            continue
        module, cls = label.rsplit(".", 1)
        tree = ast.parse((tests / (module.replace(".", "/") + ".py")).read_text())
        (node,) = (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{label}.{item.name}"
                if item.name.startswith("test") and name not in left_out:
                    labels.append(name)
    return labels


# What each suite counted when this was written: fewer means tests went missing.
AT_LEAST = {"django": 151, "flask": 26, "starlette-asyncio": 15, "starlette-trio": 14}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = Daemon.start(tmp_path_factory.mktemp("daemon"), "--storage", "memory://")
    yield daemon
    daemon.stop()


def _env(daemon: Daemon) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
    env["SESSIONSERVER_URL"] = f"sessionserver://{daemon.host}:{daemon.port}"
    env["PYTHONPATH"] = str(PLUGINS)
    return env


def _pytest_counts(junit: Path) -> tuple[int, list[str]]:
    """(tests run, the ids of those that did not pass) from a JUnit XML report."""
    root = ET.parse(junit).getroot()
    ran, bad = 0, []
    for case in root.iter("testcase"):
        ran += 1
        if any(child.tag in ("failure", "error", "skipped") for child in case):
            bad.append(f"{case.get('classname')}::{case.get('name')}")
    return ran, bad


def _run_pytest(folder: Path, daemon: Daemon, tmp_path: Path, args: list[str]) -> str:
    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--junitxml",
            str(junit),
            *args,
        ],
        cwd=folder,
        env=_env(daemon),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.stdout + result.stderr if not junit.exists() else str(junit)


def _check(name: str, report: str) -> None:
    assert report.endswith(".xml"), report
    ran, bad = _pytest_counts(Path(report))
    assert bad == [], f"{name}: {len(bad)} of {ran} did not pass: {bad}"
    assert ran >= AT_LEAST[name], f"{name}: only {ran} tests ran"


def test_flask_session_tests(daemon: Daemon, tmp_path: Path) -> None:
    folder = unpacked("flask")
    args = ["-p", "suite_flask", "-k", "session or flash or cookie", "tests"]
    for test in FLASK_DESELECTED:
        args += ["--deselect", test]
    _check("flask", _run_pytest(folder, daemon, tmp_path, args))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_starlette_session_tests(daemon: Daemon, tmp_path: Path, backend: str) -> None:
    folder = unpacked("starlette")
    args = ["-p", "suite_starlette", "-k", backend, "tests/middleware/test_session.py"]
    if backend == "asyncio":
        # the one test that takes no backend (it checks the session dict alone) runs once
        args[3] = "asyncio or not (asyncio or trio)"
    for test in STARLETTE_DESELECTED:
        args += ["--deselect", test]
    _check(f"starlette-{backend}", _run_pytest(folder, daemon, tmp_path, args))


def test_django_session_tests(daemon: Daemon) -> None:
    folder = unpacked("django") / "tests"
    result = subprocess.run(
        [
            sys.executable,
            "runtests.py",
            "--settings=suite_django_settings",
            "--parallel=1",
            "-v",
            "2",
            *_django_labels(folder),
        ],
        cwd=folder,
        env=_env(daemon),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stderr
    lines = [line for line in output.splitlines() if line.endswith((" ... ok", "... ok"))]
    problems = [
        line
        for line in output.splitlines()
        if line.endswith(("... FAIL", "... ERROR", "skipped", "expected failure"))
        or " ... skipped " in line
    ]
    assert result.returncode == 0 and problems == [], output[-6000:]
    assert len(lines) >= AT_LEAST["django"], output[-3000:]

"""The wheel installs nothing but ``sessionserver`` at the top of site-packages, with the adapters
as ``sessionserver.middleware`` and ``sessionserver.integrations``, and an app of its own with a
local ``middleware.py`` still imports both."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIP = [sys.executable, "-m", "pip"]

# An app folder with modules of its own named like the repository's adapter folders: they must
# stay the app's, and the adapters must still import.
APP = """
import sys
import middleware, integrations
assert middleware.OWN and integrations.OWN
import sessionserver.middleware.asgi, sessionserver.middleware.wsgi
import sessionserver.integrations.flask, sessionserver.integrations.django
from sessionserver.integrations.django import SessionStore
import sessionserver
print(sessionserver.__file__)
"""


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "middleware.py").write_text("OWN = True\n")
    (app / "integrations.py").write_text("OWN = True\n")
    (app / "main.py").write_text(APP)
    return app


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (found,) = out.glob("sessionserver-*.whl")
    return found


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert top == {"sessionserver", f"{wheel.name.split('-py3')[0]}.dist-info"}
    for module in ("middleware/asgi.py", "middleware/wsgi.py", "integrations/flask.py"):
        assert f"sessionserver/{module}" in names
    assert "sessionserver/integrations/django.py" in names
    assert "sessionserver/py.typed" in names
    # package data: PostgreSQL's statements and the Redis container's Lua scripts
    sql = sorted((ROOT / "sessionserver/storage/postgres/sql").glob("*.sql"))
    assert sql and {f"sessionserver/storage/postgres/sql/{p.name}" for p in sql} <= set(names)
    lua = sorted((ROOT / "sessionserver/storage/redis/scripts").glob("*.lua"))
    assert len(lua) > 10 and {f"sessionserver/storage/redis/scripts/{p.name}" for p in lua} <= set(
        names
    )
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def test_the_installed_wheel_imports_the_adapters(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # The frameworks come from this run's environment, behind the scratch venv's own
    # site-packages: PYTHONPATH entries are not site directories, so this environment's
    # editable install (a .pth file) is not seen there.
    deps = sysconfig.get_paths()["purelib"]
    app = _app(tmp_path)
    result = subprocess.run(
        [str(python), "main.py"],
        cwd=app,
        env={"PYTHONPATH": deps, "DJANGO_SETTINGS_MODULE": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(venv))


def test_the_editable_install_imports_the_adapters_the_same_way(tmp_path: Path) -> None:
    """The README's test command installs with ``pip install -e``: this environment's own."""
    result = subprocess.run(
        [sys.executable, "main.py"], cwd=_app(tmp_path), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ROOT / "sessionserver" / "__init__.py")

"""The frameworks' own test suites, from the sdists of the installed versions.

Each sdist is downloaded once with pip into ``.cache/frameworks/`` (git-ignored) and unpacked
beside it; nothing of it is copied into the repository, and the suites run unmodified.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

__all__ = ["CACHE", "unpacked"]

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "frameworks"


def unpacked(project: str) -> Path:
    """The unpacked sdist of the installed ``project`` (Django, Flask, starlette)."""
    release = version(project)
    folder = CACHE / f"{project.lower()}-{release}"
    if (folder / "tests").is_dir():
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(CACHE),
            f"{project}=={release}",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (archive,) = (p for p in CACHE.glob("*.tar.gz") if p.name.lower().startswith(folder.name))
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return folder

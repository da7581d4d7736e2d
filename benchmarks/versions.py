"""The library versions a benchmark ran with, and whether they are the ones uv.lock pins.

    python benchmarks/versions.py    (prints the line; the benchmarks print it first)

A figure is only comparable with another taken on the same versions: `scripts/setup.sh`
installs exactly uv.lock, so a line ending "as locked" names the commit's own versions."""
from __future__ import annotations

import platform
import re
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "uv.lock"
LIBRARIES = ("numpy", "torch", "torchvision")


def locked(lock: Path = LOCK) -> dict[str, set[str]]:
    """{package: versions uv.lock pins} (one per Python-version fork; empty without a lock)."""
    text = lock.read_text() if lock.exists() else ""
    pins: dict[str, set[str]] = {}
    for name, version in re.findall(r'^name = "([^"]+)"\nversion = "([^"]+)"', text, flags=re.M):
        pins.setdefault(name, set()).add(version)
    return pins


def versions_line(libraries: tuple[str, ...] = LIBRARIES) -> str:
    """'python 3.11.7, numpy 2.4.6, torch 2.15.0, ... (as locked in uv.lock)', or which differ."""
    pins = locked()
    have = {name: metadata.version(name) for name in libraries}
    differ = [f"{n} {v} (uv.lock: {', '.join(sorted(pins.get(n, ()))) or 'absent'})"
              for n, v in have.items() if v not in pins.get(n, ())]
    where = ("as locked in uv.lock" if not differ
             else "NOT as locked, run scripts/setup.sh: " + "; ".join(differ))
    return f"python {platform.python_version()}, " + ", ".join(f"{n} {v}" for n, v in have.items()) + f" ({where})"


if __name__ == "__main__":
    print(versions_line())

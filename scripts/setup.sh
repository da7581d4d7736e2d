#!/usr/bin/env bash
# Create .venv and install the project with its test extras; a no-op when nothing changed.
# Usage: scripts/setup.sh   (then use .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
py=$venv/bin/python
if [ ! -x "$py" ]; then
    python3 -m venv "$venv"
fi
if ! "$py" -m uv --version >/dev/null 2>&1; then
    "$py" -m pip install --quiet --disable-pip-version-check uv
fi
# Reinstall only when the dependencies or the set of packages change (the editable install
# maps the packages that exist when it runs): a warm second run costs well under a second.
stamp="$({ cat pyproject.toml; ls -d ./*/__init__.py; } 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$stamp" ]; then
    # --compile-bytecode: this environment never writes .pyc files (PYTHONDONTWRITEBYTECODE=1),
    # so without it every run would compile torch, numpy and scikit-learn from source again.
    "$py" -m uv pip install --quiet --compile-bytecode --python "$py" -e '.[test]'
    # uv compiles what it installs; packages an older setup left uncompiled are caught here
    # (a no-op taking a second or two when everything is compiled already). Its status is not
    # ours to judge: torch ships a Python 3.12-only test file that never compiles on 3.11.
    "$py" -m compileall -q -j 0 "$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
        >/dev/null 2>&1 || true
    echo "$stamp" > "$venv/.installed"
fi

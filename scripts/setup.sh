#!/usr/bin/env bash
# Create .venv and install exactly the versions in uv.lock, with the test extras; a no-op when
# nothing changed. Usage: scripts/setup.sh   (then use .venv/bin/python)
# Upgrade the lock: .venv/bin/python -m uv lock --upgrade   (one package: --upgrade-package torch)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
py=$venv/bin/python
uv_version=0.13.9  # the uv that reads and writes uv.lock; raise it on purpose, like a dependency
export UV_PROJECT_ENVIRONMENT="$PWD/$venv"  # never another venv the caller has set up
if [ ! -x "$py" ]; then
    python3 -m venv "$venv"
fi
if [ "$("$py" -m uv --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]; then
    "$py" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
lock_is_stale() {
    # Offline first: uv's cache usually settles it in a fraction of a second; PyPI when it cannot.
    # Any other failure (no network, a broken lock) prints uv's own message and stops.
    local out
    for mode in --offline --no-offline; do
        out="$("$py" -m uv lock --check "$mode" 2>&1)" && return 1
        grep -q "needs to be updated" <<<"$out" && return 0
    done
    echo "$out" >&2
    exit 1
}
# Reinstall only when the dependencies, the lock or the set of packages change (the editable
# install maps the packages that exist when it runs): a warm second run costs well under a second.
stamp="$({ echo "$uv_version"; cat pyproject.toml uv.lock; ls -d ./*/__init__.py || true; } 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$stamp" ]; then
    if lock_is_stale; then
        echo "setup.sh: uv.lock is out of date with pyproject.toml: run '$py -m uv lock' and commit uv.lock" >&2
        exit 1
    fi
    # --inexact: keep what the lock does not name (uv itself, installed above with pip).
    # --compile-bytecode: this environment never writes .pyc files (PYTHONDONTWRITEBYTECODE=1),
    # so without it every run would compile torch, numpy and scikit-learn from source again.
    "$py" -m uv sync --quiet --locked --inexact --extra test --compile-bytecode \
        --reinstall-package nn-crosscheck
    # uv compiles what it installs; packages an older setup left uncompiled are caught here
    # (a no-op taking a second or two when everything is compiled already). Its status is not
    # ours to judge: torch ships a Python 3.12-only test file that never compiles on 3.11.
    "$py" -m compileall -q -j 0 "$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
        >/dev/null 2>&1 || true
    echo "$stamp" > "$venv/.installed"
fi

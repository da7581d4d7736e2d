#!/usr/bin/env bash
# Mutation testing by hand (issue 26): bash benchmarks/mutation/run.sh numpy_impl|verdict [SESSION_DIR]
# cosmic-ray mutates files in place, so it works in a throwaway clone of HEAD under SESSION_DIR
# (default ~/.cache/nn-crosscheck-mutation), never in this checkout. Its session database lives
# there too: a run that is stopped resumes where it stopped when started again. At the end it
# prints cosmic-ray's report (killed, survived, incompetent) and the survivors' diffs. The clone
# stays at the commit it was made from: delete SESSION_DIR/<target> to start over at a newer HEAD.
set -euo pipefail
target="${1:?give numpy_impl or verdict}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$here/benchmarks/mutation/$target.toml" ] || { echo "run.sh: no config for $target (numpy_impl or verdict)" >&2; exit 2; }
dir="${2:-$HOME/.cache/nn-crosscheck-mutation}/$target"
if [ ! -d "$dir/clone" ]; then
    mkdir -p "$dir"
    git clone --quiet "$here" "$dir/clone"
fi
cd "$dir/clone"
git checkout --quiet -- .   # a mutant left on disk by a run that was killed
config="benchmarks/mutation/$target.toml"
bash scripts/setup.sh
.venv/bin/python -m uv pip install --quiet "cosmic-ray==8.7.0"
session="$dir/session.sqlite"
if [ ! -f "$session" ]; then
    .venv/bin/cosmic-ray init "$config" "$session"
    .venv/bin/cosmic-ray baseline "$config"
fi
.venv/bin/cosmic-ray exec "$config" "$session"
.venv/bin/cr-report "$session" --no-show-output | tail -n 5
.venv/bin/cr-report "$session" --surviving-only --show-diff > "$dir/survivors.txt" || true
echo "survivors' diffs: $dir/survivors.txt"

#!/usr/bin/env bash
# Mutation testing by hand (issue 26): bash benchmarks/mutation/run.sh numpy_impl|verdict [SESSION_DIR]
#   numpy_impl: mutmut 3 (config: [tool.mutmut] in pyproject.toml). Each mutant runs only the
#               tests that call the function it mutates, in workers forked from a warm process.
#   verdict:    cosmic-ray (config: verdict.toml here). It also mutates module-level code (the
#               bars are constants), which mutmut does not; it runs the test command per mutant.
# Both work in a throwaway clone of HEAD under SESSION_DIR (default ~/.cache/nn-crosscheck-mutation),
# never in this checkout, and keep their results there: a stopped run resumes where it stopped.
# At the end the score and the survivors' diffs (SESSION_DIR/<target>/survivors.txt) are printed.
# Delete SESSION_DIR/<target> to start over at a newer HEAD.
set -euo pipefail
target="${1:?give numpy_impl or verdict}"
case "$target" in numpy_impl|verdict) ;; *) echo "run.sh: unknown target $target (numpy_impl or verdict)" >&2; exit 2;; esac
here="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${2:-$HOME/.cache/nn-crosscheck-mutation}/$target"
if [ ! -d "$dir/clone" ]; then
    mkdir -p "$dir"
    git clone --quiet "$here" "$dir/clone"
fi
cd "$dir/clone"
git checkout --quiet -- .   # a mutant left on disk by a cosmic-ray run that was killed
bash scripts/setup.sh
unset PYTHONDONTWRITEBYTECODE  # thousands of runs: let them share compiled modules
if [ "$target" = numpy_impl ]; then
    .venv/bin/python -m uv pip install --quiet "mutmut==3.8.1"
    .venv/bin/mutmut run --max-children "$(nproc)" | tr '\r' '\n' | tail -n 1
    .venv/bin/mutmut results > "$dir/survivors.txt"   # survived, timeout and no-tests mutants
    for m in $(grep -E ': (survived|no tests)$' "$dir/survivors.txt" | cut -d: -f1); do
        .venv/bin/mutmut show "$m"
    done >> "$dir/survivors.txt"
else
    .venv/bin/python -m uv pip install --quiet "cosmic-ray==8.7.0"
    config="benchmarks/mutation/verdict.toml"
    session="$dir/session.sqlite"
    if [ ! -f "$session" ]; then
        .venv/bin/cosmic-ray init "$config" "$session"
        .venv/bin/cosmic-ray baseline "$config"
    fi
    .venv/bin/cosmic-ray exec "$config" "$session"
    .venv/bin/cr-report "$session" --no-show-output | tail -n 5
    .venv/bin/cr-report "$session" --surviving-only --show-diff > "$dir/survivors.txt" || true
fi
echo "survivors: $dir/survivors.txt"

"""Wall time of the README's main command, as a user gets it from a fresh clone.

    python3 benchmarks/bench_main_command.py [--runs 5] [--here]

Clones this checkout's committed HEAD into a temporary folder, runs `bash scripts/setup.sh`
there once (timed, not counted), then runs `.venv/bin/python -m crosscheck` --runs times,
each in a fresh process with the environment as it is (PYTHONDONTWRITEBYTECODE included), and
prints every wall time and the median. --here skips the clone and times this checkout's .venv.
Run it with nothing else on the machine: it measures the machine as much as the code."""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd: list[str], cwd: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def machine(python: str, cwd: str) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    blas = subprocess.run([python, "-c", "import numpy, threadpoolctl; "
                           "print(', '.join(f\"{i['internal_api']} {i.get('architecture')}\" "
                           "for i in threadpoolctl.threadpool_info()))"],
                          cwd=cwd, capture_output=True, text=True).stdout.strip() or "threadpoolctl not installed"
    return (f"{cpu}, {os.cpu_count()} cores; BLAS: {blas}; "
            f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="timed runs (default: 5)")
    p.add_argument("--here", action="store_true", help="time this checkout instead of a fresh clone")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-main-") as tmp:
        where = ROOT
        if not args.here:
            where = os.path.join(tmp, "clone")
            subprocess.run(["git", "clone", "--quiet", "--local", ROOT, where], check=True)
            # the clone has no MNIST data of its own: the CNN is checked on synthetic images,
            # as on any machine without MNIST (same work either way)
            setup, proc = timed(["bash", "scripts/setup.sh"], where)
            if proc.returncode:
                print(proc.stdout + proc.stderr)
                return 1
            print(f"setup (fresh clone, not counted): {setup:.1f} s")
        python = os.path.join(where, ".venv", "bin", "python")
        print(machine(python, where))
        print(subprocess.run([python, os.path.join(where, "benchmarks", "versions.py")],
                             capture_output=True, text=True).stdout.strip())
        walls = []
        for run in range(args.runs):
            wall, proc = timed([python, "-m", "crosscheck"], where)
            summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()
            print(f"run {run + 1}: {wall:5.2f} s wall, exit {proc.returncode}: {summary}")
            if proc.returncode:
                return 1
            walls.append(wall)
        print(f"median wall time of `.venv/bin/python -m crosscheck`: {statistics.median(walls):.2f} s "
              f"over {len(walls)} runs (min {min(walls):.2f}, max {max(walls):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

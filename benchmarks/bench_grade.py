"""Grading a class of 200 synthetic submissions: `python benchmarks/bench_grade.py [--n 200] [--jobs N]`.

The class cycles through tests/grading_class.py's well-behaved cases (correct .py files,
every common slip, notebooks with magics, a folder with its own module), each copy made
distinct by a comment, graded with examples/grading/two_layer_net.toml. The whole class is
graded twice from scratch (two --out folders) and the two runs' results must be identical.
Prints the wall time of each run (pool start-up and warm-up included), the cost per submission
(wall time x workers / submissions: one worker's seconds per submission) and the library
versions. Run it with as little else on the machine as you can: it measures the machine too."""
from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from benchmarks.versions import versions_line  # noqa: E402
from crosscheck.grade import outputs, pool  # noqa: E402
from crosscheck.grade.assignment import load_assignment  # noqa: E402
from crosscheck.grade.submissions import discover  # noqa: E402
from grading_class import EXAMPLE, cases, write_class  # noqa: E402

BEHAVED = ("alice", "bea_notebook", "cat_folder")   # and every slip_*: nothing that waits out a limit


def make_class(folder: Path, n: int) -> None:
    """n submissions cycling through the well-behaved cases, each made distinct."""
    base = [c for c in cases(str(folder), str(folder)) if c.name in BEHAVED or c.name.startswith("slip_")]
    for k in range(n):
        case = base[k % len(base)]
        name = f"s{k:03d}_{case.name}"
        files = {}
        for rel, text in case.files.items():
            rel = rel.replace(case.name, name, 1)
            files[rel] = text if rel.endswith(".ipynb") else f"# submission {k}\n{text}"
        write_class(folder, [case.__class__(name, files)])


def run(assignment, subs_dir: Path, out: Path, jobs: int) -> tuple[float, list[float]]:
    """Wall seconds of a whole run, and the CPU seconds of each submission's process tree."""
    start, cpu = time.perf_counter(), []
    results = pool.grade_class(assignment, discover(str(subs_dir), assignment.digest), str(out), jobs, cpu_seconds=cpu)
    outputs.write_all(assignment, results, str(out))
    return time.perf_counter() - start, cpu


def same_results(a: Path, b: Path) -> bool:
    names = sorted(os.listdir(a / "results"))
    match, mismatch, errors = filecmp.cmpfiles(a / "results", b / "results", names, shallow=False)
    return not mismatch and not errors and filecmp.cmp(a / "grades.csv", b / "grades.csv", shallow=False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="submissions (default 200)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers (default: the cores)")
    args = p.parse_args()
    print(versions_line())
    assignment = load_assignment(str(EXAMPLE))
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        make_class(subs, args.n)
        runs = [run(assignment, subs, Path(tmp) / f"out{i}", args.jobs) for i in (1, 2)]
        identical = same_results(Path(tmp) / "out1", Path(tmp) / "out2")
        csv = (Path(tmp) / "out1" / "grades.csv").read_text().splitlines()[1:]
    full = sum(1 for line in csv if line.endswith(",50"))
    for i, (wall, cpu) in enumerate(runs, 1):
        cpu.sort()
        print(f"run {i}: {args.n} submissions on {args.jobs} workers in {wall:.1f} s wall "
              f"({wall * args.jobs / args.n:.2f} s of a worker per submission); CPU per submission's process "
              f"tree: median {cpu[len(cpu) // 2]:.2f} s, max {cpu[-1]:.2f} s, total {sum(cpu):.0f} s")
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{full} of {args.n} at full marks; the two runs' results identical: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())

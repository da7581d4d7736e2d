"""Grade a class: warm workers, results written as they finish, reruns that skip what is
unchanged, shards for several machines, and the merge of their results.

Workers come from a forkserver that imported numpy, torch and the checks once and ran one
warm-up grading (warm.py), so a submission costs its own run time, not an interpreter and torch
start-up. Each result lands in OUT/results/<student>.json (atomically); a rerun reads it back
when its key (the sha256 of the submission's files and of the assignment file) is unchanged."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import resource
from typing import Callable, Iterable

from nn_crosscheck_common import atomic_write

from . import sandbox
from .assignment import Assignment
from .runner import SubmissionResult, grade_submission
from .submissions import Submission, sources

RESULTS = "results"


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' -> (2, 3): shard i of n, 1 <= i <= n (ValueError naming --shard)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--shard: must be i/n with 1 <= i <= n, e.g. 2/3, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def in_shard(subs: list[Submission], shard: tuple[int, int] | None) -> list[Submission]:
    """Shard i of n takes every n-th submission in name order, from the i-th: each machine
    gets the same share whatever the names, and the union of the shards is the class."""
    if shard is None:
        return subs
    i, n = shard
    return [s for k, s in enumerate(sorted(subs, key=lambda s: s.student)) if k % n == i - 1]


def result_path(out_dir: str, student: str) -> str:
    """OUT/results/<student>.json; a name with other characters gets a hash so two never clash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", student)
    if safe != student or safe.startswith("."):
        safe = f"{safe.lstrip('.')}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"
    return os.path.join(out_dir, RESULTS, safe + ".json")


def read_result(path: str) -> SubmissionResult | None:
    try:
        with open(path, encoding="utf-8") as f:
            return SubmissionResult.from_json(json.load(f))
    except (OSError, ValueError, KeyError, TypeError):
        return None   # missing or unreadable: graded again


def write_result(out_dir: str, result: SubmissionResult) -> None:
    data = json.dumps(result.to_json(), indent=1, sort_keys=True).encode()
    atomic_write(result_path(out_dir, result.student), lambda f: f.write(data))


def grade_class(assignment: Assignment, subs: list[Submission], out_dir: str, jobs: int,
                progress: Callable[[SubmissionResult, bool], None] = lambda r, cached: None,
                cpu_seconds: list[float] | None = None) -> list[SubmissionResult]:
    """Grade `subs` on `jobs` workers into out_dir/results; those whose result is already there
    with the same key are not run again. Returns every result, in name order; `cpu_seconds`,
    when given, receives the CPU time each graded submission's process tree used."""
    done, todo = {}, []
    for sub in subs:
        old = read_result(result_path(out_dir, sub.student))
        if old is not None and old.key == sub.key and old.student == sub.student:
            done[sub.student] = old
            progress(old, True)
        else:
            todo.append(sub)
    for result, cpu in _run(assignment, todo, jobs):
        if cpu_seconds is not None:
            cpu_seconds.append(cpu)
        write_result(out_dir, result)
        done[result.student] = result
        progress(result, False)
    return [done[s.student] for s in sorted(subs, key=lambda s: s.student)]


def _run(assignment: Assignment, todo: list[Submission], jobs: int) -> Iterable[tuple[SubmissionResult, float]]:
    if not todo:
        return
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["crosscheck.grade.warm"])
    with ctx.Pool(min(jobs, len(todo)), initializer=_init_worker) as pool:
        yield from pool.imap_unordered(_grade_one, [(assignment, sub) for sub in todo])


def _init_worker() -> None:
    sandbox.become_subreaper()


def _grade_one(job: tuple[Assignment, Submission]) -> tuple[SubmissionResult, float]:
    """The result, and the CPU seconds of the submission's tree (reaped here, so counted here)."""
    assignment, sub = job
    before = _children_cpu()
    code, notes = sources(sub)
    return grade_submission(assignment, sub, code, notes), _children_cpu() - before


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def merge(assignment: Assignment, folders: list[str]) -> list[SubmissionResult]:
    """The results of several shard folders as one class (ValueError for a folder without
    results, a result graded against another assignment, or one student in two shards)."""
    merged: dict[str, SubmissionResult] = {}
    for folder in folders:
        where = os.path.join(folder, RESULTS)
        if not os.path.isdir(where):
            raise ValueError(f"--merge: {folder} holds no {RESULTS}/ folder; give the --out folders of the shards")
        for name in sorted(os.listdir(where)):
            if not name.endswith(".json"):
                continue
            result = read_result(os.path.join(where, name))
            if result is None:
                raise ValueError(f"--merge: {os.path.join(where, name)} is not a result file")
            if result.assignment != assignment.digest:
                raise ValueError(f"--merge: {os.path.join(where, name)} was graded against another assignment")
            if result.student in merged and merged[result.student] != result:
                raise ValueError(f"--merge: {result.student} is graded differently in two folders")
            merged[result.student] = result
    return [merged[k] for k in sorted(merged)]

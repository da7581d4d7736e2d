"""What a grading run hands back: grades.csv (points per part per student), summary.html (score
distribution, per-part pass rate, the most common slips per part, a sortable table), one
feedback/<student>.txt per student, and Gradescope's results.json for a single submission.
Every file is a function of the results alone (no clock, no paths): the same results give the
same bytes."""
from __future__ import annotations

import csv
import html
import io
import json
import os
from collections import Counter

from nn_crosscheck_common import atomic_write

from .assignment import Assignment
from .runner import SubmissionResult

TOP_SLIPS = 3   # slips shown per part in the summary
BINS = 10       # score distribution bins


def _pts(x: float) -> str:
    return f"{x:g}"


def write_all(assignment: Assignment, results: list[SubmissionResult], out_dir: str) -> None:
    """grades.csv, summary.html and feedback/<student>.txt under out_dir."""
    from .pool import result_path
    _write(os.path.join(out_dir, "grades.csv"), csv_text(assignment, results))
    _write(os.path.join(out_dir, "summary.html"), html_summary(assignment, results))
    for r in results:
        name = os.path.splitext(os.path.basename(result_path(out_dir, r.student)))[0]
        _write(os.path.join(out_dir, "feedback", name + ".txt"), feedback_text(assignment, r))


def _write(path: str, text: str) -> None:
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def csv_text(assignment: Assignment, results: list[SubmissionResult]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student"] + [f"{p.name} ({_pts(p.points)})" for p in assignment.parts]
               + [f"total ({_pts(assignment.total_points)})"])
    for r in sorted(results, key=lambda r: r.student):
        w.writerow([r.student] + [_pts(p.points) for p in r.parts] + [_pts(r.points)])
    return out.getvalue()


def feedback_text(assignment: Assignment, r: SubmissionResult) -> str:
    """One student's feedback: each part's points and, where it lost them, why."""
    lines = [f"{assignment.name}: {r.student}: {_pts(r.points)} / {_pts(assignment.total_points)} points", ""]
    for p in r.parts:
        lines.append(f"[{_pts(p.points)}/{_pts(p.max_points)}] {p.part}: {p.status}")
        lines += [f"    {line}" for line in p.feedback.splitlines()]
    if r.notes:
        lines += ["", "notes:"] + [f"    {n}" for n in r.notes]
    if r.output_bytes:
        kept = len(r.output.encode("utf-8"))
        head = (f"what your code printed ({r.output_bytes} bytes):" if kept >= r.output_bytes
                else f"what your code printed (the first {kept} of {r.output_bytes} bytes):")
        lines += ["", head] + [f"    {line}" for line in r.output.splitlines()[:200]]
    return "\n".join(lines) + "\n"


def gradescope_json(assignment: Assignment, r: SubmissionResult) -> str:
    """Gradescope's autograder results.json: one test per part (name, score, max_score, status,
    output), the notes as the top-level output."""
    tests = [{"name": p.part, "score": p.points, "max_score": p.max_points,
              "status": "passed" if p.status == "passed" else "failed", "output": p.feedback} for p in r.parts]
    doc = {"score": r.points, "output": "\n".join(r.notes), "tests": tests}
    return json.dumps(doc, indent=1) + "\n"


def slip_counts(assignment: Assignment, results: list[SubmissionResult]) -> dict[str, Counter]:
    """Per part, how often each reason for losing it came up: the slip's name where one was
    named ("extra 1/N"), else the status (timeout, missing, error, ...)."""
    counts = {p.name: Counter() for p in assignment.parts}
    for r in results:
        for p in r.parts:
            if p.status != "passed":
                counts[p.part][p.slip.split(":")[0].strip() if p.slip else p.status] += 1
    return counts


def html_summary(assignment: Assignment, results: list[SubmissionResult]) -> str:
    total = assignment.total_points
    n = len(results)
    e = html.escape
    bins = [0] * BINS
    for r in results:
        bins[min(BINS - 1, int(BINS * r.points / total)) if total else 0] += 1
    dist = "".join(f"<tr><td>{_pts(total * k / BINS)}&ndash;{_pts(total * (k + 1) / BINS)}</td><td>{c}</td>"
                   f"<td><div class=bar style='width:{300 * c // max(1, max(bins))}px'></div></td></tr>"
                   for k, c in enumerate(bins))
    slips = slip_counts(assignment, results)
    parts = []
    for p in assignment.parts:
        passed = sum(1 for r in results for q in r.parts if q.part == p.name and q.status == "passed")
        common = "; ".join(f"{e(s)} ({c})" for s, c in sorted(slips[p.name].items(), key=lambda kv: (-kv[1], kv[0]))
                           [:TOP_SLIPS])
        parts.append(f"<tr><td>{e(p.name)}</td><td>{_pts(p.points)}</td><td>{passed}/{n}</td>"
                     f"<td>{100 * passed / n if n else 0:.0f}%</td><td>{common or '-'}</td></tr>")
    head = "".join(f"<th onclick='sortBy({k})'>{e(h)}</th>" for k, h in
                   enumerate(["student"] + [p.name for p in assignment.parts] + ["total"]))
    rows = "".join("<tr><td>" + e(r.student) + "</td>" + "".join(
        f"<td title='{e(p.status)}'>{_pts(p.points)}</td>" for p in r.parts) + f"<td>{_pts(r.points)}</td></tr>"
        for r in sorted(results, key=lambda r: r.student))
    mean = sum(r.points for r in results) / n if n else 0
    return _PAGE.format(title=e(assignment.name), n=n, mean=f"{mean:.2f}", total=_pts(total), dist=dist,
                        parts="".join(parts), head=head, rows=rows)


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}: grades</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border:1px solid #ccc;padding:2px 8px}} th{{cursor:pointer;background:#eee}}
.bar{{background:#4a7;height:12px}}</style></head><body>
<h1>{title}</h1>
<p>{n} submissions, mean {mean} of {total} points.</p>
<h2>Score distribution</h2><table><tr><th>points</th><th>students</th><th></th></tr>{dist}</table>
<h2>Parts</h2><table><tr><th>part</th><th>points</th><th>passed</th><th>pass rate</th>
<th>most common reasons for losing it</th></tr>{parts}</table>
<h2>Students</h2><p>Click a column to sort by it.</p>
<table id=grades><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>
<script>
function sortBy(col) {{
  const body = document.querySelector('#grades tbody');
  const rows = Array.from(body.rows);
  const key = r => {{ const t = r.cells[col].textContent; const v = parseFloat(t); return isNaN(v) ? t : v; }};
  const dir = body.dataset.col == col && body.dataset.dir == 'asc' ? -1 : 1;
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * dir);
  body.dataset.col = col; body.dataset.dir = dir > 0 ? 'asc' : 'desc';
  rows.forEach(r => body.appendChild(r));
}}
</script></body></html>
"""

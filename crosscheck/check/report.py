"""Print check results as tables, and write the full report as JSON (atomically)."""
from __future__ import annotations

import json

from nn_crosscheck_common import UsageError, atomic_write, write_target

from .harness import CheckResult


def _fmt(v: float) -> str:
    return f"{v:9.1e}" if v == v else "      nan"


def summary_header() -> str:
    return f"{'model':<16} {'act':<11} {'dtype':<8} {'forward':>9} {'gradient':>9} {'fin-diff':>9}  result"


def summary_line(r: CheckResult) -> str:
    fd = _fmt(r.fd.worst_rel) if r.fd is not None else f"{'-':>9}"
    return (f"{r.model:<16} {r.activation:<11} {r.dtype:<8} {_fmt(r.worst('forward'))} "
            f"{_fmt(r.worst('gradient'))} {fd}  {'PASS' if r.passed else 'FAIL'}"
            + ("  (max-pool near-ties: see -v)" if any(row.routing for row in r.rows) else ""))


def failure_lines(r: CheckResult) -> list[str]:
    """Where it went wrong: first divergent quantity, the layer to blame, slip, FD failures."""
    lines = []
    first, culprits = r.first_divergence(), [row for row in r.rows if not row.local_ok]
    if first is not None:
        lines.append(f"    first divergence: {first.label()}: {first.acc.describe()}")
    for row in culprits:
        slip = f" (looks like: {row.slip})" if row.slip else ""
        lines.append(f"    wrong layer: {row.label()} fails on torch's own input: "
                     f"{row.local.describe()}{slip}")
    if first is not None and not culprits:
        lines.append("    every layer passes on torch's own input: the error is accumulated, not local")
    for steps in r.steps:
        lines.extend(steps.lines())
    if r.fd is not None:
        for t in r.fd.tensors:
            if t.problem:
                lines.append(f"    finite differences: {t.note()}")
            elif not t.passed:
                lines.append(f"    finite differences: {t.failure()}")
    return lines


def verbose_lines(r: CheckResult, param_lines: list[str] = ()) -> list[str]:
    """Every quantity of every layer: accumulated and local error, worst element, status."""
    lines = [f"  {line}" for line in param_lines]
    q = max([12] + [len(row.quantity) for row in r.rows])  # num_batches_tracked, branch.0.weight.grad
    lines.append(f"  {'layer':<22} {'quantity':<{q}} {'accum rel':>9} {'local rel':>9}  "
                 f"{'worst at':<12} {'numpy':>14} {'reference':>14}  status")
    for row in r.rows:
        loc = _fmt(row.local.max_rel) if row.local else f"{'-':>9}"
        idx = str(list(row.acc.index)) if not row.acc.problem else row.acc.problem[:12]
        lines.append(f"  {row.layer_name:<22} {row.quantity:<{q}} {_fmt(row.acc.max_rel)} {loc}  "
                     f"{idx:<12} {row.acc.actual:>14.7g} {row.acc.expected:>14.7g}  {row.status}"
                     + (f"  <- {row.slip}" if row.slip else "")
                     + (f"  (accumulated not judged: {row.routing})" if row.routing else ""))
    for steps in r.steps:  # a recurrent layer's time steps: one line each, its failing steps in full
        n_t = len({row.t for row in steps.rows})
        lines.append(f"  {steps.name}: {len(steps.rows)} step quantities over {n_t} steps, worst "
                     f"{_fmt(steps.worst('forward')).strip()} forward, {_fmt(steps.worst('gradient')).strip()} "
                     f"gradient: {'ok' if steps.passed else 'see below'}")
        lines += [f"    {row.label()}: {row.status}: {row.acc.describe()}" for row in steps.rows if row.status != "ok"]
    if r.fd is not None:
        for t in r.fd.tensors:
            lines.append(f"  {t.line()}")
    lines += [f"  note: {n}" for n in r.notes]
    return lines


def to_json(results: list[CheckResult]) -> dict:
    return {"passed": all(r.passed for r in results),
            "checks": [{"model": r.model, "activation": r.activation, "dtype": r.dtype,
                        "passed": r.passed, "worst_forward": r.worst("forward"),
                        "worst_gradient": r.worst("gradient"),
                        "first_divergence": r.first_divergence().label() if r.first_divergence() else None,
                        "culprit": r.culprit().label() if r.culprit() else None,
                        "rows": [row.to_json() for row in r.rows],
                        "finite_differences": [t.to_json() for t in r.fd.tensors] if r.fd else None,
                        "steps": [{"layer": s.layer, "name": s.name, "passed": s.passed, "slips": s.slips,
                                   "first_divergence": s.first_divergence().label() if s.first_divergence() else None,
                                   "culprit": s.culprit().label() if s.culprit() else None,
                                   "failing_rows": [row.to_json() for row in s.rows if row.status != "ok"]}
                                  for s in r.steps],
                        "notes": r.notes} for r in results]}


def check_json_target(path: str) -> None:
    """Refuse, before any checking, a --json PATH that is a directory, device or FIFO (one line)."""
    try:
        write_target(path)
    except UsageError as err:
        raise UsageError(f"argument --json: {err}") from None


def write_json(path: str, results: list[CheckResult]) -> None:
    """Atomically, as a regular file (a symlink is written through); UsageError naming --json."""
    text = json.dumps(to_json(results), indent=1, default=float)
    try:
        atomic_write(path, lambda f: f.write(text.encode()))
    except UsageError as err:
        raise UsageError(f"argument --json: {err}") from None
    except OSError as err:
        raise UsageError(f"argument --json: could not write {path}: {err.strerror or err}") from None

"""The result of checking your network: prints the report's table in a terminal and renders
as an HTML table in Jupyter."""
from __future__ import annotations

import html
from dataclasses import dataclass

from ..harness import CheckResult
from .. import report


@dataclass
class UserCheckResult(CheckResult):
    """A CheckResult that shows itself: str() is the terminal report, _repr_html_ a table.
    undeclared: where it fails, the convention you did not declare that explains every
    difference exactly, with the one argument that declares it ('' when none does); where
    `partly`, the one that explains all but the rows still wrong, under which they are judged."""
    undeclared: str = ""
    partly: bool = False

    def __str__(self) -> str:
        lines = [report.summary_header(), report.summary_line(self)]
        lines += self.undeclared_lines()
        lines += report.verbose_lines(self)
        if not self.passed:
            lines += report.failure_lines(self) + self.undeclared_lines()
        return "\n".join(lines)

    def undeclared_lines(self) -> list[str]:
        """The one line saying which undeclared convention explains the failure, if one does."""
        if not self.undeclared:
            return []
        if self.partly:
            return [f"    judged under a convention you did not declare, the one that explains every difference but "
                    f"the rows still wrong: {self.undeclared}"]
        return [f"    FAIL explained: every difference is exactly what a convention you did not declare gives: "
                f"{self.undeclared}. If you meant that, declare it; if not, the wrong rows are the bug"]

    def _repr_html_(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        head = "".join(f"<th>{h}</th>" for h in ("layer", "quantity", "accum rel", "local rel", "status", "slip"))
        body = []
        for r in self.rows:
            loc = f"{r.local.max_rel:.1e}" if r.local else "-"
            colour = "" if r.status == "ok" else ' style="color:#b00"'
            cells = (r.layer_name, r.quantity, f"{r.acc.max_rel:.1e}", loc, r.status, r.slip)
            body.append(f"<tr{colour}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        extra = "".join(f"<li>{html.escape(line.strip())}</li>" for line in self.undeclared_lines()
                        + report.failure_lines(self)
                        + [f"note: {n}" for n in self.notes])
        return (f"<p><b>{html.escape(self.model)}: {verdict}</b></p><table><tr>{head}</tr>{''.join(body)}"
                f"</table>" + (f"<ul>{extra}</ul>" if extra else ""))

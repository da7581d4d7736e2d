"""`crosscheck grade`: check a class's submissions against an assignment, each in its own
confined process, in parallel and resumably, with feedback that names the slip (docs/grading.md).

  assignment.py   the assignment file (TOML) read into records
  submissions.py  finding submissions (.py, .ipynb, folders) and the code each runs
  parts.py        grading one part with the project's checks (byo, the optimizer replay)
  checker.py      the process that grades the parts and never runs the student's code
  proxy.py        the checker's stand-ins for the student's functions and objects
  student.py      the sandboxed process that runs the student's functions for the checker
  wire.py         what crosses between them: restricted trees, never pickles
  reference_fns.py the reference CS231n functions a part's other layers use
  sandbox.py      confining the child that runs a submission (limits, Landlock, environment)
  runner.py       one submission: the checker, its confined child and the grandchildren
  watch.py        the worker's side: reports read, output kept, time and processes enforced
  tree.py         the process tree under a worker, found and killed
  pool.py         the warm worker pool, resumable results, shards and their merge
  warm.py         what the pool's forkserver imports and runs once
  outputs.py      CSV, HTML summary, per-student feedback, Gradescope's results.json"""
from .assignment import Assignment, Part, load_assignment
from .parts import PartOutcome, grade_part
from .runner import SubmissionResult, grade_submission

__all__ = ["Assignment", "Part", "PartOutcome", "SubmissionResult", "grade_part", "grade_submission",
           "load_assignment"]

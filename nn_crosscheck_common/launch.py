"""Commands that behave the same from any folder: `python -m crosscheck` and
`python -m mnist_cnn.train` never import a user's `common.py`, `reference.py` or `numpy_impl.py`."""
from __future__ import annotations

import os
import sys

# The folder that holds this project's packages (the repository, or site-packages).
_OURS = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def ignore_working_folder() -> None:
    """Drop the working folder from sys.path while `python -m` is locating one of our packages.

    `python -m pkg` puts the working folder first on sys.path, so a user's module there named
    like one of ours (or like one of its imports) would replace it. The packages' __init__ call
    this first thing: `-m` is told by sys.argv[0], which is "-m" only while the module is being
    located. A plain `import crosscheck` (a notebook, pytest) leaves sys.path alone. Running from
    this project's own folder keeps it: that is where our packages are."""
    if not sys.argv or sys.argv[0] != "-m" or sys.flags.safe_path:
        return
    here = os.path.realpath(os.getcwd())
    if here == _OURS:
        return
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]

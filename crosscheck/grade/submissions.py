"""Find the submissions in a folder and turn each into the code to run.

A submission is a `.py` file, a `.ipynb` notebook, or a folder holding them (its top-level
`.py` and `.ipynb` files run in name order into one namespace; the files under it are copied
with it, so its own modules import). A notebook's code cells run in order; IPython's shell and
magic lines (`%matplotlib inline`, `!pip install ...`, `%%time` cells) are skipped, each with
a note. The key of a submission is the sha256 of its files and the assignment's: a rerun skips
a submission whose key is unchanged."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

MAX_FILES = 200            # a folder submission with more files is refused (a copied data set)
MAX_BYTES = 20 << 20       # ... or more bytes


@dataclass(frozen=True)
class Submission:
    """One student's files: (path inside the submission, path on disk), sorted."""
    student: str
    files: tuple[tuple[str, str], ...]
    key: str


@dataclass(frozen=True)
class Source:
    """Code to run: a file, or one notebook cell (keep_going: an error stops the cell only)."""
    filename: str
    code: str
    keep_going: bool = False


def discover(folder: str, assignment_digest: str) -> list[Submission]:
    """Every submission in `folder`, sorted by student name (ValueError for a bad folder)."""
    if not os.path.isdir(folder):
        raise ValueError(f"SUBMISSIONS: no such folder {folder!r}")
    found = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(".") or os.path.islink(path):
            continue
        if os.path.isdir(path) or name.endswith((".py", ".ipynb")):
            found.append(one(path, assignment_digest))
    if not found:
        raise ValueError(f"SUBMISSIONS: {folder} holds no .py file, .ipynb notebook or folder")
    return found


def one(path: str, assignment_digest: str) -> Submission:
    """The submission at `path` (a file or a folder)."""
    if os.path.isdir(path):
        files = _folder_files(path)
        student = os.path.basename(os.path.normpath(path))
    elif os.path.isfile(path) and path.endswith((".py", ".ipynb")):
        files = ((os.path.basename(path), path),)
        student = os.path.splitext(os.path.basename(path))[0]
    else:
        raise ValueError(f"SUBMISSIONS: {path} is not a .py file, a .ipynb notebook or a folder")
    digest = hashlib.sha256(assignment_digest.encode())
    for rel, disk in files:
        digest.update(rel.encode() + b"\0")
        with open(disk, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    return Submission(student, files, digest.hexdigest())


def _folder_files(root: str) -> tuple[tuple[str, str], ...]:
    files, size = [], 0
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(names):
            disk = os.path.join(here, name)
            if name.startswith(".") or os.path.islink(disk) or not os.path.isfile(disk):
                continue
            size += os.path.getsize(disk)
            files.append((os.path.relpath(disk, root), disk))
    if len(files) > MAX_FILES or size > MAX_BYTES:
        raise ValueError(f"SUBMISSIONS: {root} holds {len(files)} files, {size >> 20} MiB; a submission may "
                         f"hold at most {MAX_FILES} files and {MAX_BYTES >> 20} MiB")
    return tuple(files)


def sources(sub: Submission) -> tuple[list[Source], list[str]]:
    """The code to run, in order, and notes (skipped lines, an unreadable notebook)."""
    top = [(rel, disk) for rel, disk in sub.files if "/" not in rel and rel.endswith((".py", ".ipynb"))]
    out, notes = [], []
    for rel, disk in top:
        with open(disk, "rb") as f:
            raw = f.read()
        if rel.endswith(".py"):
            out.append(Source(rel, raw.decode("utf-8", "replace")))
            continue
        cells, said = notebook_cells(raw, rel)
        out += cells
        notes += said
    if not top:
        notes.append("no .py file or notebook at the top of the submission: nothing ran")
    return out, notes


def notebook_cells(raw: bytes, name: str) -> tuple[list[Source], list[str]]:
    """A notebook's code cells as sources, shell and magic lines skipped (each noted)."""
    try:
        nb = json.loads(raw.decode("utf-8"))
        cells = [c for c in nb["cells"] if c.get("cell_type") == "code"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return [], [f"{name}: not a readable notebook (JSON with cells); nothing in it ran"]
    out, notes = [], []
    for k, cell in enumerate(cells, 1):
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        code, skipped = _strip_magics(text)
        notes += [f"{name} cell {k}: skipped {line.strip()!r} (IPython only)" for line in skipped]
        out.append(Source(f"{name}[cell {k}]", code, keep_going=True))
    return out, notes


def _strip_magics(text: str) -> tuple[str, list[str]]:
    lines = text.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):   # a cell magic: the whole cell is IPython's
        return "", [lines[0]]
    kept, skipped = [], []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or stripped.startswith("get_ipython("):
            skipped.append(line)
            indent = line[:len(line) - len(stripped)]
            kept.append(f"{indent}pass")   # keeps a block that held only this line valid
        else:
            kept.append(line)
    return "\n".join(kept) + "\n", skipped

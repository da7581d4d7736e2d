"""Read a user's residual block object, y = x + f(x) (or proj(x) + f(x)): where it keeps its
branch f (a list of the user's own layer objects) and its projection on the skip path, and
whether it is a residual block at all: told by crosscheck_kind = "residual", by residual=
declared, by its class name (Residual, ResBlock, Skip, ...) or by a branch list alone, the last
only where its forward is seen to compute x + f(x) (adapter.py)."""
from __future__ import annotations

from dataclasses import dataclass

from ..shared.discover import class_name, label_of
from ..shared.objects import BACKWARD_NAMES, FORWARD_NAMES

BRANCH_ATTRS = ("layers", "branch", "block", "f", "residual", "body", "fn")
SHORTCUT_ATTRS = ("shortcut", "proj", "projection", "downsample")
NAME_WORDS = ("residual", "resblock", "res_block", "resnetblock", "skip")
DECLARE_KEYS = ("branch", "shortcut")


@dataclass
class ResidualParts:
    """What one block holds: its branch's layer objects under `branch_attr`, its projection (None:
    the identity) under `shortcut_attr`, and how it was told a block (`how`)."""
    branch_attr: str
    branch: list
    shortcut_attr: str | None
    shortcut: object | None
    how: str  # "declared", "named" or "branch" (its branch list alone)


def is_layer(obj) -> bool:
    """A layer object: it has a forward and a backward method under any name objects.py reads."""
    return not isinstance(obj, type) and all(any(callable(getattr(obj, m, None)) for m in names)
                                             for names in (FORWARD_NAMES, BACKWARD_NAMES))


def _layers(value) -> list | None:
    """A branch: a non-empty list or tuple of layer objects, or one layer object."""
    if isinstance(value, (list, tuple)) and value and all(is_layer(v) for v in value):
        return list(value)
    return [value] if is_layer(value) else None


def declared(residual) -> dict:
    """residual= as given: None, True, or {'branch': attribute, 'shortcut': attribute or None}."""
    if residual is None or residual is False:
        return {}
    if residual is True:
        return {"branch": None}
    if not isinstance(residual, dict) or set(residual) - set(DECLARE_KEYS):
        raise ValueError(f"residual: give True or {{'branch': 'the attribute holding the branch's layers', "
                         f"'shortcut': 'its projection's attribute' or None}}, got {residual!r}")
    return dict(residual)


def residual_parts(obj, index: int, given: dict | None = None) -> ResidualParts | None:
    """The block's parts, or None where obj is no residual block (given: declared()'s dict)."""
    given = given or {}
    kind = getattr(obj, "crosscheck_kind", None)
    if kind is not None and kind != "residual":
        return None
    told = kind == "residual" or bool(given)
    how = "declared" if told else ("named" if any(w in class_name(obj).lower() for w in NAME_WORDS) else "branch")
    names = (given["branch"],) if given.get("branch") else BRANCH_ATTRS
    found = next(((n, b) for n in names if (b := _layers(getattr(obj, n, None))) is not None), None)
    if found is None:
        if kind == "residual":
            raise ValueError(f"layer {index} ({label_of(obj)}): a residual block without its branch (looked for "
                             f"{', '.join(names)}: a list of layer objects); declare residual={{'branch': ...}}")
        return None
    shortcut_attr, shortcut = _shortcut(obj, index, given)
    return ResidualParts(found[0], found[1], shortcut_attr, shortcut, how)


def _shortcut(obj, index: int, given: dict) -> tuple[str | None, object | None]:
    """(attribute, projection layer object) on the skip path, (None, None) for the identity."""
    names = (given["shortcut"],) if given.get("shortcut") else () if "shortcut" in given else SHORTCUT_ATTRS
    for name in names:
        value = getattr(obj, name, None)
        if value is None or isinstance(value, (bool, int, float, str)):
            continue
        if not is_layer(value):
            raise ValueError(f"layer {index} ({label_of(obj)}): its shortcut {name} is {type(value).__name__}, not a "
                             f"layer object with forward and backward; declare residual={{'shortcut': None}} if "
                             f"the skip path is the identity")
        return name, value
    return None, None

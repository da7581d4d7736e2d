"""The assignment file: what students implement, what each part is checked on, its points and
time limit. One TOML file (docs/grading.md), read and validated whole into frozen records
before any submission runs; a bad value is one ValueError naming the file and the key."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the project runs there, the grader's file reader does not
    tomllib = None

PART_KINDS = ("layer", "loss", "program", "update")
NETWORK_STYLES = ("mlp", "cnn")
LAYERS = {"mlp": ("affine", "relu"), "cnn": ("conv", "relu", "max_pool", "affine")}
UPDATE_RULES = ("sgd", "sgd_momentum", "adam")
# the function names a layer part looks for when the file names none (CS231n's)
DEFAULT_FUNCTIONS = {"affine": ("affine_forward", "affine_backward"), "relu": ("relu_forward", "relu_backward"),
                     "conv": ("conv_forward_naive", "conv_backward_naive"),
                     "max_pool": ("max_pool_forward_naive", "max_pool_backward_naive")}


@dataclass(frozen=True)
class Limits:
    """What one submission may use (docs/grading.md#isolation)."""
    import_time_s: float = 20.0      # wall clock for running the file or notebook
    memory_mib: int = 2048           # address space it may add to the worker's
    processes: int = 16              # processes it may run at once (its own included)
    output_kib: int = 64             # stdout + stderr kept; the rest is counted, not kept


@dataclass(frozen=True)
class LayerDesc:
    """One layer of the network the parts are checked in: affine (units), relu, conv
    (filters, size, stride, pad), max_pool (size, stride)."""
    kind: str
    units: int = 0
    filters: int = 0
    size: int = 0
    stride: int = 1
    pad: int = 0


@dataclass(frozen=True)
class Network:
    """The network and data every layer or loss part is checked on (seeded: deterministic)."""
    style: str                       # mlp (byo.functional) or cnn (byo.cnn, NCHW)
    input_shape: tuple[int, ...]     # one sample's shape
    batch: int
    classes: int
    layers: tuple[LayerDesc, ...]
    seed: int = 0


@dataclass(frozen=True)
class Part:
    """One graded part. kind: layer (a CS231n function pair), loss (loss(x, y) -> (loss, dx)),
    program (a class whose loss(X, y) returns (loss, grads)), update (a CS231n update rule
    rule(w, dw, config) -> (next_w, config))."""
    name: str
    kind: str
    points: float
    time_limit_s: float
    layer: str = ""                          # layer: which layer of the network it is
    functions: tuple[str, ...] = ()          # the names looked up in the submission
    rule: str = ""                           # update: sgd, sgd_momentum, adam
    lr: float = 1e-2
    init: tuple[tuple[str, object], ...] = ()   # program: the class's constructor arguments
    activations: tuple[str, ...] = ()        # program: per (W, b)
    l2_attr: str = ""                        # program: the attribute holding its L2 strength
    input_shape: tuple[int, ...] = ()        # program: one sample's shape
    batch: int = 8
    classes: int = 3


@dataclass(frozen=True)
class Assignment:
    name: str
    parts: tuple[Part, ...]
    network: Network | None
    limits: Limits
    digest: str = field(default="", compare=False)   # sha256 of the file: part of every result's key

    @property
    def total_points(self) -> float:
        return sum(p.points for p in self.parts)


def load_assignment(path: str) -> Assignment:
    """Read and validate an assignment file (ValueError naming the file and the key)."""
    if tomllib is None:
        raise ValueError(f"{path}: reading an assignment file needs Python 3.11 or newer (tomllib)")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the assignment file ({err.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a valid TOML file: {err}") from None
    try:
        return _assignment(data, hashlib.sha256(raw).hexdigest())
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _assignment(data: dict, digest: str) -> Assignment:
    _only(data, "", ("name", "network", "part", "limits"))
    parts = data.get("part")
    if not isinstance(parts, list) or not parts:
        raise ValueError("part: give at least one [[part]] table")
    network = _network(data["network"]) if "network" in data else None
    built = tuple(_part(p, i, network) for i, p in enumerate(parts))
    names = [p.name for p in built]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ValueError(f"part: two parts are named {dup!r}; names must differ")
    return Assignment(name=_str(data, "name", "", "assignment"), parts=built, network=network,
                      limits=_limits(data.get("limits", {})), digest=digest)


def _only(table: dict, where: str, keys: tuple[str, ...]) -> None:
    if not isinstance(table, dict):
        raise ValueError(f"{where or 'the file'}: must be a table")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ValueError(f"{where + '.' if where else ''}{unknown[0]}: unknown key; known: {', '.join(keys)}")


def _str(table: dict, key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where + '.' if where else ''}{key}: must be a non-empty string, got {value!r}")
    return value


def _num(table: dict, key: str, where: str, default: float | None = None, whole: bool = False,
         low: float = 0.0) -> float:
    value = table.get(key, default)
    ok = isinstance(value, int) if whole else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value <= low:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{where}.{key}: must be {kind} > {low:g}, got {value!r}")
    return value


def _ints(table: dict, key: str, where: str) -> tuple[int, ...]:
    value = table.get(key)
    if not (isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                      for v in value)):
        raise ValueError(f"{where}.{key}: must be a list of whole numbers > 0, got {value!r}")
    return tuple(value)


def _limits(table: dict) -> Limits:
    _only(table, "limits", ("import_time_s", "memory_mib", "processes", "output_kib"))
    d = Limits()
    return Limits(import_time_s=_num(table, "import_time_s", "limits", d.import_time_s),
                  memory_mib=_num(table, "memory_mib", "limits", d.memory_mib, whole=True, low=63),
                  processes=_num(table, "processes", "limits", d.processes, whole=True),
                  output_kib=_num(table, "output_kib", "limits", d.output_kib, whole=True))


def _network(table: dict) -> Network:
    _only(table, "network", ("style", "input_shape", "batch", "classes", "layers", "seed"))
    style = table.get("style", "mlp")
    if style not in NETWORK_STYLES:
        raise ValueError(f"network.style: must be one of {', '.join(NETWORK_STYLES)}, got {style!r}")
    layers = table.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError("network.layers: must be a list of layers, e.g. [{layer = \"affine\", units = 10}]")
    built = tuple(_layer(spec, i, style) for i, spec in enumerate(layers))
    if built[-1].kind != "affine":
        raise ValueError("network.layers: the last layer must be an affine layer (it gives the class scores)")
    seed = table.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"network.seed: must be a whole number >= 0, got {seed!r}")
    shape = _ints(table, "input_shape", "network")
    if style == "cnn" and len(shape) != 3:
        raise ValueError(f"network.input_shape: a cnn takes one image (C, H, W), got {list(shape)}")
    return Network(style=style, input_shape=shape, batch=_num(table, "batch", "network", 8, whole=True),
                   classes=_num(table, "classes", "network", whole=True, low=1), layers=built, seed=seed)


def _layer(spec, i: int, style: str) -> LayerDesc:
    where = f"network.layers[{i}]"
    spec = {"layer": spec} if isinstance(spec, str) else spec
    _only(spec, where, ("layer", "units", "filters", "size", "stride", "pad"))
    kind = spec.get("layer")
    if kind not in LAYERS[style]:
        raise ValueError(f"{where}.layer: must be one of {', '.join(LAYERS[style])} in a {style}, got {kind!r}")
    if kind == "affine":
        return LayerDesc(kind, units=_num(spec, "units", where, whole=True))
    if kind == "conv":
        pad = spec.get("pad", 0)
        if not isinstance(pad, int) or pad < 0:
            raise ValueError(f"{where}.pad: must be a whole number >= 0, got {pad!r}")
        return LayerDesc(kind, filters=_num(spec, "filters", where, whole=True), size=_num(spec, "size", where, whole=True),
                         stride=_num(spec, "stride", where, 1, whole=True), pad=pad)
    if kind == "max_pool":
        size = _num(spec, "size", where, 2, whole=True)
        return LayerDesc(kind, size=size, stride=_num(spec, "stride", where, size, whole=True))
    return LayerDesc(kind)


def _part(table: dict, i: int, network: Network | None) -> Part:
    where = f"part[{i}]"
    _only(table, where, ("name", "kind", "points", "time_limit_s", "layer", "functions", "rule", "lr", "class",
                         "init", "activations", "l2_attr", "input_shape", "batch", "classes"))
    kind = table.get("kind")
    if kind not in PART_KINDS:
        raise ValueError(f"{where}.kind: must be one of {', '.join(PART_KINDS)}, got {kind!r}")
    common = dict(name=_str(table, "name", where), kind=kind, points=_num(table, "points", where),
                  time_limit_s=_num(table, "time_limit_s", where, 20.0))
    if kind in ("layer", "loss") and network is None:
        raise ValueError(f"{where}: a {kind} part is checked in the [network] table; add one")
    if kind == "layer":
        layer = table.get("layer")
        if layer not in {d.kind for d in network.layers}:
            raise ValueError(f"{where}.layer: must name a layer of the network "
                             f"({', '.join(sorted({d.kind for d in network.layers}))}), got {layer!r}")
        return Part(**common, layer=layer, functions=_names(table, where, 2, DEFAULT_FUNCTIONS[layer]))
    if kind == "loss":
        return Part(**common, functions=_names(table, where, 1, ("softmax_loss",)))
    if kind == "update":
        rule = table.get("rule")
        if rule not in UPDATE_RULES:
            raise ValueError(f"{where}.rule: must be one of {', '.join(UPDATE_RULES)}, got {rule!r}")
        return Part(**common, rule=rule, lr=_num(table, "lr", where, 1e-2), functions=_names(table, where, 1, (rule,)))
    return _program_part(table, where, common)


def _program_part(table: dict, where: str, common: dict) -> Part:
    init = table.get("init", {})
    if not isinstance(init, dict):
        raise ValueError(f"{where}.init: must be a table of the class's constructor arguments")
    acts = table.get("activations")
    if not (isinstance(acts, list) and acts and all(isinstance(a, str) for a in acts)):
        raise ValueError(f"{where}.activations: must be a list of activation names, one per (W, b), "
                         f"e.g. [\"relu\", \"identity\"]")
    l2 = table.get("l2_attr", "")
    if not isinstance(l2, str):
        raise ValueError(f"{where}.l2_attr: must be the name of the attribute holding the L2 strength, got {l2!r}")
    return Part(**common, functions=(_str(table, "class", where),), init=tuple(sorted(init.items())),
                activations=tuple(acts), l2_attr=l2, input_shape=_ints(table, "input_shape", where),
                batch=_num(table, "batch", where, 8, whole=True), classes=_num(table, "classes", where, 3, whole=True,
                                                                               low=1))


def _names(table: dict, where: str, count: int, default: tuple[str, ...]) -> tuple[str, ...]:
    names = table.get("functions", list(default))
    if not (isinstance(names, list) and len(names) == count and all(isinstance(n, str) and n.isidentifier()
                                                                    for n in names)):
        raise ValueError(f"{where}.functions: must be a list of {count} function name(s), e.g. {list(default)}")
    return tuple(names)

"""TensorBoard tag names and unit-health metrics, shared by the MNIST trainer and the studies.

Tags are `<group>/<name>`. TensorBoard's time-series page sorts groups by character code (digits
and '/' first, then upper case, then lower case; a group's name before a longer one it begins) and opens
the first two, so the capitalised run-level groups (Test, Train, Train_divergence) come before the
per-layer groups (conv1, fc1, logits).
The metric functions accept NumPy arrays and torch tensors alike (only methods both have)."""
from __future__ import annotations

from numpy_impl.spec import Activation, Conv2d, Linear, MaxPool2d, ModelSpec

# Run-level scalars.
TRAIN_LOSS, TRAIN_ACCURACY, TRAIN_LR = "Train/loss", "Train/accuracy", "Train/lr"
TRAIN_IMAGES_PER_S, TRAIN_GRI = "Train/images_per_s", "Train/gri"
TEST_LOSS, TEST_ACCURACY = "Test/loss", "Test/accuracy"  # trainer: a fixed test subset, often
TEST_LOSS_FULL, TEST_ACCURACY_FULL = "Test/loss_full_set", "Test/accuracy_full_set"  # at epoch ends
# Named Train_divergence so that the group sorts right after Train: a logdir holding trainer runs and
# side-by-side runs opens Test and Train first, not the divergence (a group "Divergence" sorted first).
DIVERGENCE_LOSS = "Train_divergence/loss_rel_log10"     # log10 |numpy - torch| / |torch| of the loss
DIVERGENCE_PARAMS = "Train_divergence/param_rel_log10"  # log10 of the worst parameter's max relative difference
DIVERGENCE_FLOOR = -20.0  # log10 written for an exact match (log10 0 is -inf, which plots as nothing)
DIVERGENCE_CEIL = 10.0    # log10 written when either side is NaN or infinite
# The loss divergence is logged as its running maximum over this many steps: an exact step (-20)
# next to a rounding-level one (-16) made the raw series flicker between the two every step.
DIVERGENCE_WINDOW = 20

SATURATION = 0.99  # tanh beyond +-0.99, sigmoid below 0.01 or above 0.99: the gradient is < 2% of its peak
UNIT_SHARE = 0.99  # a unit (channel or neuron) is mostly zero / saturated when this share of its probe positions is
HEALTH = {  # per activation, only the metrics that can be non-zero (fc layers, whose unit is a neuron)
    "relu": ("sparsity", "dead_units"),
    "tanh": ("saturated", "saturated_units"),
    "sigmoid": ("saturated", "saturated_units"),
}
# A conv channel has images x height x width positions: "never positive" and "zero on >= 99% of its
# positions" are different things there (a channel firing in 50% of images is 99% zero), so a ReLU
# conv layer logs both, named for what they are. A neuron's positions are the probe images only.
CONV_HEALTH = {**HEALTH, "relu": ("sparsity", "dead_channels", "mostly_zero_channels")}
# Capitalised so that a layer's health charts sort before its statistics ('H' < 'a' by character code).
HEALTH_GROUP = "Health"
# A ReLU output's min is 0 on any real batch and its max is the pre-activation's max: not logged.
RELU_SKIPS = ("min", "max")


def spec_kinds(spec: ModelSpec) -> list[tuple[str, str]]:
    """(kind, activation name) per layer of the spec, the input layer_groups names layers from."""
    kinds = {Conv2d: "conv", Linear: "linear", Activation: "act", MaxPool2d: "pool"}
    return [(kinds.get(type(layer), type(layer).__name__.lower()),
             layer.name if isinstance(layer, Activation) else "") for layer in spec.layers]


def param_groups(spec: ModelSpec) -> dict[str, tuple[str, str]]:
    """'7.weight' -> ('fc1', 'weight') for every parameter of the spec's layers (state-dict keys
    of both builders)."""
    groups = layer_groups(spec_kinds(spec))
    return {f"{i}.{kind}": (group, kind) for i, (group, role) in enumerate(groups)
            if role == "preact" for kind in ("weight", "bias")}


def layer_groups(kinds: list[tuple[str, str]]) -> list[tuple[str | None, str | None]]:
    """Per layer, (group, role) for tags. kinds: (kind, activation name) with kind 'conv', 'linear',
    'act', 'pool' or anything else. Convs are conv1, conv2, ...; Linears fc1, fc2, ..., the last
    `logits`; their outputs are role 'preact', an activation right after one of them is role 'act'
    of the same group; pools, flattens, dropouts get (None, None): they are not logged."""
    out, counts, last_group = [], {"conv": 0, "linear": 0}, None
    n_linear = sum(kind == "linear" for kind, _ in kinds)
    for kind, _ in kinds:
        if kind in counts:
            counts[kind] += 1
            if kind == "conv":
                group = f"conv{counts[kind]}"
            else:
                group = "logits" if counts[kind] == n_linear else f"fc{counts[kind]}"
            out.append((group, "preact"))
            last_group = group
        elif kind == "act" and last_group is not None:
            out.append((last_group, "act"))
            last_group = None
        else:
            out.append((None, None))
            last_group = None
    return out


def module_names(kinds: list[tuple[str, str]]) -> list[str]:
    """A name per layer for the model graph: conv1, conv1_act, pool1, ..., fc1, fc1_act, dropout, logits."""
    names, pools = [], 0
    for (kind, act), (group, role) in zip(kinds, layer_groups(kinds)):
        if role == "preact":
            names.append(group)
        elif role == "act":
            names.append(f"{group}_act")
        elif kind == "pool":
            pools += 1
            names.append(f"pool{pools}")
        else:
            names.append(kind if kind not in names else f"{kind}{len(names)}")
    return names


def stat_names(size: int) -> tuple[str, ...]:
    """The statistics worth a tag for a tensor of `size` elements: one value is its own min and max;
    of two, the std is half their gap and often equals the max (a 2-class bias stays +-c)."""
    return ("value",) if size == 1 else ("min", "max") if size == 2 else ("mean", "std", "min", "max")


def stats(a, skip: tuple[str, ...] = ()) -> dict[str, float]:
    """stat_names' statistics (std: population) of an array or tensor, as floats, less those in skip."""
    names = [k for k in stat_names(int(a.size if isinstance(a.size, int) else a.numel())) if k not in skip]
    out = {}
    if "value" in names:
        out["value"] = float(a.reshape(-1)[0])
    if "mean" in names:
        m = a.mean()
        out["mean"], out["std"] = float(m), float(((a - m) ** 2).mean() ** 0.5)
    for k in ("min", "max"):
        if k in names:
            out[k] = float(a.min() if k == "min" else a.max())
    return out


def health_names(act: str | None, conv: bool) -> tuple[str, ...]:
    """The health metrics logged for an activation after a conv (conv=True) or a Linear layer."""
    return (CONV_HEALTH if conv else HEALTH).get(act, ())


def health(act: str, a) -> dict[str, float]:
    """Activation outputs a, shaped (N, C, H, W) or (N, F), on the probe batch -> fractions:
    ReLU: sparsity (outputs exactly 0) and, after a Linear, dead_units (neurons 0 on >= 99% of the
    probe images); after a conv, dead_channels (never positive on the probe batch) and
    mostly_zero_channels (0 on >= 99% of their images x height x width positions).
    tanh, sigmoid: saturated (outputs past the 0.99 bound) and saturated_units (units saturated on
    >= 99% of their positions)."""
    if act not in HEALTH:
        return {}
    units = a.swapaxes(0, 1).reshape(a.shape[1], -1)
    if act == "relu":
        bad = (units == 0) * 1.0
    elif act == "tanh":
        bad = (abs(units) > SATURATION) * 1.0
    else:
        bad = ((units < 1 - SATURATION) | (units > SATURATION)) * 1.0
    per_unit = bad.mean(1)
    share_of = lambda flags: float((flags * 1.0).mean())
    if act == "relu" and a.ndim > 2:
        return {"sparsity": float(per_unit.mean()), "dead_channels": share_of(per_unit == 1),
                "mostly_zero_channels": share_of(per_unit >= UNIT_SHARE)}
    element, unit = HEALTH[act]
    return {element: float(per_unit.mean()), unit: share_of(per_unit >= UNIT_SHARE)}


def layer_tags(group: str, role: str, act: str | None, a) -> dict[str, float]:
    """Scalars of one layer's output: <group>/<role>/<stat> and, for activations, <group>/Health/<metric>."""
    skip = RELU_SKIPS if role == "act" and act == "relu" else ()
    out = {f"{group}/{role}/{k}": v for k, v in stats(a, skip).items()}
    if role == "act":
        out.update({f"{group}/{HEALTH_GROUP}/{k}": v for k, v in health(act, a).items()})
    return out


# What a chart shows, in the words TensorBoard puts under its title (a summary's description).
# Keyed by the whole tag for run-level scalars, by what follows the layer's group for layer scalars.
DESCRIPTIONS = {
    TRAIN_LOSS: "Training cross-entropy: the trainer's mean since the previous point, a study's per step.",
    TRAIN_ACCURACY: "Share of training images classified right (the trainer: since the previous point).",
    TRAIN_LR: "The learning rate the optimizer used at this step.",
    TRAIN_IMAGES_PER_S: "Training images per second of training steps (evaluation and logging time excluded), "
                        "all processes.",
    TRAIN_GRI: "Gradient ratio index: norm of dLoss/dW of the first hidden layer over that of the last one. "
               "Far below 1: vanishing gradients; far above: exploding.",
    TEST_LOSS: "Test cross-entropy. Trainer: on a fixed subset of the test set, every --eval-every steps "
               "(the full test set is Test/loss_full_set); studies: the test half, each epoch.",
    TEST_ACCURACY: "Test accuracy. Trainer: on a fixed subset of the test set, every --eval-every steps "
                   "(the full test set is Test/accuracy_full_set); studies: the test half, each epoch.",
    TEST_LOSS_FULL: "Test cross-entropy on the whole test set: every epoch end and the run's last step.",
    TEST_ACCURACY_FULL: "Test accuracy on the whole test set: every epoch end and the run's last step "
                        "(the HParams metric).",
    DIVERGENCE_LOSS: f"log10 of |loss_numpy - loss_torch| / |loss_torch|, the maximum over the last "
                     f"{DIVERGENCE_WINDOW} steps. {DIVERGENCE_FLOOR:g}: equal; {DIVERGENCE_CEIL:g}: NaN or inf.",
    DIVERGENCE_PARAMS: "log10 of the worst parameter's max relative difference between NumPy and torch.",
    f"{HEALTH_GROUP}/sparsity": "Share of this layer's ReLU outputs that are exactly 0 on the probe batch.",
    f"{HEALTH_GROUP}/dead_units": "Share of neurons that are 0 on every probe image: they pass no gradient.",
    f"{HEALTH_GROUP}/dead_channels": "Share of channels never positive anywhere on the probe batch (every "
                                     "image, every position): dead, they pass no gradient.",
    f"{HEALTH_GROUP}/mostly_zero_channels": "Share of channels that are 0 on >= 99% of their positions "
                                            "(images x height x width). Alive but sparse, not dead: a channel "
                                            "firing in half the images is 99% zero.",
    f"{HEALTH_GROUP}/saturated": "Share of outputs past the 0.99 bound (tanh |y| > 0.99; sigmoid < 0.01 or "
                                 "> 0.99), where the gradient is under 2% of its peak.",
    f"{HEALTH_GROUP}/saturated_units": "Share of units (channels or neurons) saturated on >= 99% of their "
                                       "probe positions.",
    "grad_norm": "Norm of dLoss/dW of this layer's weight. Falling by decades towards the input: vanishing.",
    "update_ratio/weight": "||w_after - w_before|| / ||w_before|| over one step: ~1e-3 healthy, 1e-1 too fast, "
                           "1e-5 stalled.",
    "update_ratio/bias": "||b_after - b_before|| / ||b_before|| over one step: ~1e-3 healthy.",
    "preact": "The Conv/Linear output (before the activation) on the fixed probe batch, in eval mode.",
    "act": "The activation's output on the fixed probe batch, in eval mode (ReLU: mean and std only).",
}


def description(tag: str) -> str:
    """The description of a scalar tag ('' when none): the whole tag, or what follows the group,
    or (for <group>/preact/<stat> and <group>/act/<stat>) the role."""
    group, _, rest = tag.partition("/")
    return DESCRIPTIONS.get(tag) or DESCRIPTIONS.get(rest) or DESCRIPTIONS.get(rest.split("/", 1)[0], "")

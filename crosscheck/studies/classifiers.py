"""Minibatch classifiers (moons, circles, digits) on a 50/50 train/test split."""
from __future__ import annotations

from nn_crosscheck_common import tags as T
from numpy_impl import OptimSpec
from numpy_impl.spec import ModelSpec

from ..presets import digits_data, digits_spec, moons_data, moons_spec
from ..train.lockstep import TrainConfig, evaluate, split_half
from .records import SIDES, RunRecord, pair, run_both

CLASSIFIERS = ("moons", "circles", "digits", "digits_logistic", "digits_linear2", "digits_linear4")
CLASSIFIER_LR = {"moons": 0.1, "circles": 0.1}  # digits models: 0.05


def classifier_data(name: str):
    if name in ("moons", "circles"):
        return moons_data(name)
    return digits_data()


def classifier_spec(name: str, act: str = "tanh") -> ModelSpec:
    return moons_spec(act, name=name) if name in ("moons", "circles") else digits_spec(name)


def classifier_study(name: str, seed: int = 0, epochs: int = 25, batch_size: int = 10,
                     act: str = "tanh", logger_for=None):
    """Minibatch SGD on a 50/50 train/test split; per-epoch loss and accuracy of both sides."""
    x, y = classifier_data(name)
    spec = classifier_spec(name, act)
    tr, te = split_half(len(x), seed)
    cfg = TrainConfig(OptimSpec("sgd", CLASSIFIER_LR.get(name, 0.05)), batch_size=batch_size, seed=seed)
    steps_per_epoch = -(-len(tr) // batch_size)
    steps = epochs * steps_per_epoch
    logger = logger_for(name, spec, x[te][:64]) if logger_for else None
    records = {s: RunRecord() for s in SIDES}

    def on_epoch(epoch, sides):
        for side in sides:
            tl, ta = evaluate(side, spec, x[tr], y[tr])
            vl, va = evaluate(side, spec, x[te], y[te])
            records[side.name].epochs.append({"epoch": epoch, "train_loss": tl, "train_acc": ta,
                                              "test_loss": vl, "test_acc": va})
            if logger:  # at the step that ends the epoch, on the same axis as Train/loss
                for tag, v in ((T.TRAIN_ACCURACY, ta), (T.TEST_LOSS, vl), (T.TEST_ACCURACY, va)):
                    if v is not None:
                        logger.scalar(side.name, tag, v, epoch * steps_per_epoch)

    run, sides = run_both(spec, x[tr], y[tr], cfg, steps, logger, on_epoch=on_epoch)
    for s in SIDES:
        run[s].epochs = records[s].epochs
    if logger:
        logger.close()
    return spec, run, sides, (x, y, tr, te)


def classifier_table(name: str, run, every: int = 5) -> list[str]:
    lines = [f"{name}: {'epoch':>5}  {'train loss (numpy | torch)':<28}{'train acc':<18}"
             f"{'test loss':<28}{'test acc':<18}"]
    eps = run["numpy"].epochs
    for i, row in enumerate(eps):
        if (i + 1) % every and i != len(eps) - 1 and i:
            continue
        get = lambda k: {s: run[s].epochs[i][k] for s in SIDES}
        lines.append(f"{'':<{len(name) + 2}}{row['epoch']:>5}  {pair(get('train_loss')):<28}"
                     f"{pair(get('train_acc'), '{:.3f}'):<18}{pair(get('test_loss')):<28}"
                     f"{pair(get('test_acc'), '{:.3f}'):<18}")
    return lines

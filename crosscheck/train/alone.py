"""Train one implementation alone on real data, with a progress bar (e.g. the NumPy CNN
on MNIST): `python -m crosscheck train --model mnist_cnn --impl numpy --epochs 1`."""
from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from numpy_impl.init import init_state
from numpy_impl.spec import ModelSpec

from .lockstep import NumpySide, TorchSide, TrainConfig, batches, evaluate


def train_single(impl: str, spec: ModelSpec, cfg: TrainConfig, train_data, test_data,
                 epochs: int, steps: int | None = None) -> dict:
    """Minibatch training of one side; returns test loss and accuracy and images/s."""
    side_cls = NumpySide if impl == "numpy" else TorchSide
    side = side_cls(spec, init_state(spec, cfg.seed), cfg)
    x, y = train_data
    rng = np.random.default_rng(cfg.seed + 1)
    per_epoch = len(batches(len(x), cfg.batch_size, rng))
    total = min(epochs * per_epoch, steps or epochs * per_epoch)
    bar = tqdm(total=total, unit="step", dynamic_ncols=True, mininterval=1.0, desc=impl)
    seen, correct, loss_sum, start, step = 0, 0, 0.0, time.perf_counter(), 0
    for _ in range(epochs):
        for idx in batches(len(x), cfg.batch_size, rng):
            if step == total:
                break
            loss_sum += side.step(x[idx], y[idx]) * len(idx)
            out = side.model.outputs[-1] if impl == "numpy" else None
            if out is not None and out.shape[:-1] == np.shape(y[idx]):  # class labels: (N,) or, per step, (N, T)
                hit = out.argmax(axis=-1) == y[idx]
                correct += float(hit.reshape(len(idx), -1).mean(axis=1).sum())
            seen += len(idx)
            step += 1
            if step % 10 == 0:
                post = {"loss": f"{loss_sum / seen:.4f}", "img_s": f"{seen / (time.perf_counter() - start):.0f}"}
                if out is not None:
                    post["acc"] = f"{correct / seen:.4f}"
                bar.set_postfix(post, refresh=False)
            bar.update(1)
        side.epoch_end()
    bar.close()
    test_loss, test_acc = evaluate(side, spec, *test_data)
    return {"test_loss": test_loss, "test_accuracy": test_acc, "steps": step,
            "images_per_s": seen / (time.perf_counter() - start)}

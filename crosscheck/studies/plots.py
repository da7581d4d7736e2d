"""PNG plots for the studies (matplotlib, headless)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nn_crosscheck_common import atomic_write  # noqa: E402

from .descent import DescentResult, f  # noqa: E402


def _save(fig, path: str) -> str:
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path


def loss_curves(curves: dict[str, dict[str, list[float]]], path: str, title: str) -> str:
    """curves: label -> {'numpy': losses, 'torch': losses}; torch dashed over numpy."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (label, sides) in enumerate(curves.items()):
        color = f"C{i}"
        ax.plot(sides["numpy"], color=color, label=f"{label} numpy")
        ax.plot(sides["torch"], color="k", ls=":", lw=0.8)
    ax.set(xlabel="epoch", ylabel="loss", yscale="log", title=f"{title} (dotted: torch)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def grad_norms(norms: dict[str, dict[str, float]], path: str, title: str) -> str:
    """norms: label -> {weight key: norm}, one line per model across its layers."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, per_layer in norms.items():
        ax.plot(range(1, len(per_layer) + 1), list(per_layer.values()), marker="o", label=label)
    ax.set(xlabel="Linear layer (1 = first hidden)", ylabel="||dL/dW|| at init", yscale="log", title=title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def descent_path(result: DescentResult, path: str) -> str:
    xs, ys = np.meshgrid(np.linspace(-3.5, 3.5, 300), np.linspace(-2.5, 3, 300))
    fig, ax = plt.subplots(figsize=(6, 5))
    cs = ax.contour(xs, ys, f(xs, ys), levels=30, cmap="viridis", linewidths=0.7)
    ax.clabel(cs, fontsize=6)
    ax.plot(*result.path_numpy.T, "r.-", ms=3, lw=0.8, label="numpy (hand-written gradient)")
    ax.plot(*result.path_torch.T, "k:", lw=0.8, label="torch (autograd)")
    x, y, fv = result.final
    ax.set(title=f"gradient descent on f: end ({x:.4f}, {y:.4f}), f = {fv:.4f}", xlabel="x", ylabel="y")
    ax.legend(fontsize=7)
    return _save(fig, path)


def decision_boundary(predict, x: np.ndarray, y: np.ndarray, path: str, title: str) -> str:
    """Class regions of a 2-D classifier with the data on top."""
    lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = np.c_[gx.ravel(), gy.ravel()]
    cls = predict(grid).argmax(axis=1).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.contourf(gx, gy, cls, alpha=0.3, cmap="coolwarm")
    ax.scatter(*x.T, c=y, s=8, cmap="coolwarm", edgecolors="k", linewidths=0.2)
    ax.set(title=title)
    return _save(fig, path)

"""TensorBoard summaries for the MNIST trainer (one run folder per training run)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402
from torch.utils.tensorboard.summary import hparams  # noqa: E402

from .spec import LAYER_NAMES  # noqa: E402

SATURATION = 0.99  # a tanh unit with |y| > 0.99 on every probe input is saturated


def param_name(key: str) -> str:
    """'7.weight' -> 'fc1.weight'."""
    index, kind = key.split(".", 1)
    return f"{LAYER_NAMES[int(index)]}.{kind}"


class Summaries:
    """Scalars (mean, std, min, max) every call; histograms when asked."""

    def __init__(self, run_dir: str, purge_step: int | None = None) -> None:
        self.writer = SummaryWriter(run_dir, purge_step=purge_step)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def _stats(self, tag: str, t: torch.Tensor, step: int, hist: bool) -> None:
        t = t.detach().float()
        for name, v in (("mean", t.mean()), ("std", t.std()), ("min", t.min()), ("max", t.max())):
            self.writer.add_scalar(f"{tag}/{name}", v.item(), step)
        if hist:
            self.writer.add_histogram(tag, t.cpu(), step)

    def params_and_grads(self, step: int, model: nn.Module, hist: bool) -> None:
        for key, p in model.named_parameters():
            self._stats(f"params/{param_name(key)}", p, step, hist)
            if p.grad is not None:
                self._stats(f"grads/{param_name(key)}", p.grad, step, hist)

    @torch.no_grad()
    def activations(self, step: int, model: nn.Sequential, probe: torch.Tensor, hist: bool) -> None:
        """Every layer's output on the fixed probe batch in eval mode, and unit health."""
        was_training = model.training
        model.eval()
        h = probe
        for name, module in zip(LAYER_NAMES, model):
            h = module(h)
            if name == "flatten":
                continue
            self._stats(f"activations/{name}", h, step, hist)
            if isinstance(module, (nn.ReLU, nn.Tanh)):
                units = h.transpose(0, 1).reshape(h.shape[1], -1)  # per channel / neuron
                if isinstance(module, nn.ReLU):
                    frac = (units <= 0).all(dim=1).float().mean()
                    self.writer.add_scalar(f"health/dead_fraction/{name}", frac.item(), step)
                else:
                    frac = (units.abs() > SATURATION).all(dim=1).float().mean()
                    self.writer.add_scalar(f"health/saturated_fraction/{name}", frac.item(), step)
        model.train(was_training)

    def update_ratios(self, step: int, before: dict[str, torch.Tensor], model: nn.Module) -> None:
        """||w_after - w_before|| / ||w_before|| per parameter: ~1e-3 is healthy."""
        for key, p in model.named_parameters():
            ratio = (p.detach() - before[key]).norm() / before[key].norm().clamp_min(1e-12)
            self.writer.add_scalar(f"health/update_ratio/{param_name(key)}", ratio.item(), step)

    def graph(self, model: nn.Module, probe: torch.Tensor) -> None:
        import warnings
        try:
            with warnings.catch_warnings():  # add_graph traces with torch.jit, which warns
                warnings.simplefilter("ignore")
                self.writer.add_graph(model, probe[:2])
        except Exception as err:  # tracing is a nicety; never let it stop training
            print(f"warning: model graph not written ({err})")

    def filters(self, step: int, model: nn.Sequential) -> None:
        from torchvision.utils import make_grid
        w = model[0].weight.detach().float().cpu()
        w = (w - w.min()) / (w.max() - w.min()).clamp_min(1e-12)
        self.writer.add_image("filters/conv1", make_grid(w, nrow=8, padding=1, pad_value=1.0), step)

    def evaluation(self, step: int, confusion: torch.Tensor, worst: list[tuple]) -> None:
        """Confusion matrix and the worst-classified test digits as images."""
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.imshow(confusion.numpy(), cmap="Blues")
        for (i, j), v in zip(((i, j) for i in range(10) for j in range(10)), confusion.flatten().tolist()):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6)
        ax.set(xlabel="predicted", ylabel="true", xticks=range(10), yticks=range(10), title=f"step {step}")
        self.writer.add_figure("eval/confusion_matrix", fig, step)
        fig, axes = plt.subplots(2, 8, figsize=(10, 3))
        for ax, (img, label, pred, loss) in zip(axes.flat, worst):
            ax.imshow(img.squeeze(0).numpy(), cmap="gray")
            ax.set_title(f"{label}->{pred} ({loss:.1f})", fontsize=8)
            ax.axis("off")
        self.writer.add_figure("eval/worst_digits", fig, step)

    def hparams(self, config: dict, metrics: dict[str, float]) -> None:
        """hparams with the final metrics, written into this run (not a sub-run)."""
        hp = {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool))}
        exp, ssi, sei = hparams(hp, metrics)
        fw = self.writer._get_file_writer()
        for s in (exp, ssi, sei):
            fw.add_summary(s)
        for k, v in metrics.items():
            self.writer.add_scalar(k, v)

    def close(self) -> None:
        self.writer.close()

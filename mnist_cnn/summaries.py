"""TensorBoard summaries for the MNIST trainer (one run folder per training run).

Tag names come from nn_crosscheck_common.tags, shared with crosscheck's studies: Train/..., Test/... first,
then one group per layer (conv1, conv2, fc1, logits), each with its Health charts first. Every chart
carries a description (tags.DESCRIPTIONS); the custom-scalars layout puts train and test on one chart."""
from __future__ import annotations

import os
import time
import warnings
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from nn_crosscheck_common import tags as T  # noqa: E402
from nn_crosscheck_common.tb_views import TRAINER_LAYOUT, DescribedScalars, layout_summary  # noqa: E402
from numpy_impl.spec import ModelSpec  # noqa: E402

from . import hparams as hp  # noqa: E402

FILTER_ZOOM = 8  # 5x5 conv1 filters drawn 40x40 px, legible at TensorBoard's card size


class Summaries:
    """Writes one run's events; each method is one call from the trainer."""

    def __init__(self, run_dir: str, spec: ModelSpec, purge_step: int | None = None) -> None:
        """`spec`: the trained network's description; layers are named from it (conv1, fc1, logits)."""
        self.writer = SummaryWriter(run_dir, purge_step=purge_step)
        self.kinds = T.spec_kinds(spec)             # (kind, activation) per layer
        self.groups = T.layer_groups(self.kinds)    # (group, role) per layer
        self.params = T.param_groups(spec)          # '7.weight' -> ('fc1', 'weight')
        self.name = os.path.basename(os.path.normpath(run_dir))
        self.test_logged_at: int | None = None  # step of the last full-test-set evaluation
        self.described = DescribedScalars()
        self.started = time.time()
        if purge_step is None:  # a new run (a resumed one has its layout already)
            self.writer._get_file_writer().add_summary(layout_summary(TRAINER_LAYOUT), 0)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Scalars of one step; a tag's first point carries its description."""
        self.writer._get_file_writer().add_summary(self.described.summary(values), step)

    def train_scalars(self, step: int, loss: float, accuracy: float, lr: float,
                      images_per_s: float | None = None) -> None:
        """The training window's mean loss and accuracy, the lr, and throughput (all processes)."""
        values = {T.TRAIN_LOSS: loss, T.TRAIN_ACCURACY: accuracy, T.TRAIN_LR: lr}
        if images_per_s is not None:
            values[T.TRAIN_IMAGES_PER_S] = images_per_s
        self.scalars(step, values)

    def _tensor(self, tag: str, t: torch.Tensor, step: int, hist: bool) -> None:
        t = t.detach().float()
        self.scalars(step, {f"{tag}/{k}": v for k, v in T.stats(t).items()})
        if hist:
            self.writer.add_histogram(tag, t.cpu(), step)

    def params_and_grads(self, step: int, model: nn.Sequential, hist: bool) -> None:
        """<layer>/weight|bias/{mean,std,min,max}, <layer>/grad/weight|bias/{std,absmax},
        <layer>/grad_norm (of the weight gradient), histograms of all when hist."""
        grads = {}
        for key, (group, kind) in self.params.items():
            p = model.get_parameter(key)
            self._tensor(f"{group}/{kind}", p, step, hist)
            if p.grad is not None:
                grads[key] = p.grad
        self.gradients(step, model, grads, hist)

    def gradients(self, step: int, model: nn.Sequential, grads: dict[str, torch.Tensor], hist: bool) -> None:
        for key, (group, kind) in self.params.items():
            if key not in grads:
                continue
            g = grads[key].detach().float()
            self.scalars(step, {f"{group}/grad/{kind}/std": float(g.std(correction=0)),
                                f"{group}/grad/{kind}/absmax": float(g.abs().max())})
            if kind == "weight":
                self.scalars(step, {f"{group}/grad_norm": float(g.norm())})
            if hist:
                self.writer.add_histogram(f"{group}/grad/{kind}", g.cpu(), step)

    @torch.no_grad()
    def activations(self, step: int, model: nn.Sequential, probe: torch.Tensor, hist: bool) -> None:
        """Each Conv/Linear output (preact) and activation output (act) on the fixed probe batch in
        eval mode, with <layer>/health/...; pools, flatten and dropout (identity in eval) are skipped."""
        was_training = model.training
        model.eval()
        h = probe
        for module, (kind, act), (group, role) in zip(model, self.kinds, self.groups):
            h = module(h)
            if role is None:
                continue
            hf = h.float()
            self.scalars(step, T.layer_tags(group, role, act, hf))
            if hist:
                self.writer.add_histogram(f"{group}/{role}", hf.cpu(), step)
        model.train(was_training)

    def update_ratios(self, step: int, before: dict[str, torch.Tensor], model: nn.Module) -> None:
        """<layer>/update_ratio/weight|bias = ||w_after - w_before|| / ||w_before||: ~1e-3 is healthy."""
        for key, (group, kind) in self.params.items():
            p = model.get_parameter(key).detach()
            ratio = (p - before[key]).norm() / before[key].norm().clamp_min(1e-12)
            self.scalars(step, {f"{group}/update_ratio/{kind}": ratio.item()})

    def snapshot(self, model: nn.Sequential, probe: torch.Tensor, labels: torch.Tensor) -> None:
        """Step 0, before training: parameters, gradients of the probe batch's loss (computed
        aside: no .grad is touched), activations, all with histograms."""
        was_training = model.training
        model.eval()
        params = dict(model.named_parameters())
        with torch.enable_grad():
            loss = F.cross_entropy(model(probe).float(), labels)
            grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
        model.train(was_training)
        for key, (group, kind) in self.params.items():
            self._tensor(f"{group}/{kind}", params[key], 0, hist=True)
        self.gradients(0, model, grads, hist=True)
        self.activations(0, model, probe, hist=True)

    def graph(self, model: nn.Sequential, probe: torch.Tensor) -> None:
        """The model graph with the tags' layer names (the modules are shared, not copied)."""
        named = nn.Sequential(OrderedDict(zip(T.module_names(self.kinds), model)))
        try:
            with warnings.catch_warnings():  # add_graph traces with torch.jit, which warns
                warnings.simplefilter("ignore")
                self.writer.add_graph(named, probe[:2])
        except Exception as err:  # tracing is a nicety; never let it stop training
            print(f"warning: model graph not written ({err})")

    def filters(self, step: int, model: nn.Sequential) -> None:
        """conv1's filters, each upscaled FILTER_ZOOM times with nearest neighbours, in a grid."""
        from torchvision.utils import make_grid
        w = model[0].weight.detach().float().cpu()
        w = (w - w.min()) / (w.max() - w.min()).clamp_min(1e-12)
        w = F.interpolate(w, scale_factor=FILTER_ZOOM, mode="nearest")
        self.writer.add_image("conv1/filters", make_grid(w, nrow=8, padding=4, pad_value=1.0), step)

    def subset_evaluation(self, step: int, loss: float, accuracy: float) -> None:
        """Test/loss and Test/accuracy on the fixed test subset: the test curve."""
        self.scalars(step, {T.TEST_LOSS: loss, T.TEST_ACCURACY: accuracy})

    def evaluation(self, step: int, loss: float, accuracy: float, confusion: torch.Tensor,
                   worst: list[tuple]) -> None:
        """The full test set: its loss and accuracy, and as images the confusion matrix and the worst digits."""
        self.scalars(step, {T.TEST_LOSS_FULL: loss, T.TEST_ACCURACY_FULL: accuracy})
        self.test_logged_at = step
        self.writer.add_figure("Test/confusion_matrix", self._confusion_figure(step, accuracy, confusion), step)
        self.writer.add_figure("Test/worst_digits", self._worst_figure(step, worst), step)

    def _confusion_figure(self, step: int, accuracy: float, confusion: torch.Tensor):
        fig, ax = plt.subplots(figsize=(5.2, 5.6), dpi=100)
        c = confusion.numpy()
        ax.imshow(c, cmap="Blues")
        for i in range(10):
            for j in range(10):
                color = "white" if c[i, j] > c.max() / 2 else "black"
                ax.text(j, i, str(c[i, j]), ha="center", va="center", fontsize=11, color=color)
        ax.set_xlabel("predicted", fontsize=12)
        ax.set_ylabel("true", fontsize=12)
        ax.set(xticks=range(10), yticks=range(10))
        ax.tick_params(labelsize=11)
        ax.set_title(f"{self.name}\nstep {step}: test accuracy {accuracy:.2%}", fontsize=12)
        fig.tight_layout()
        return fig

    def _worst_figure(self, step: int, worst: list[tuple]):
        fig, axes = plt.subplots(4, 4, figsize=(5.2, 6.0), dpi=100)
        for ax in axes.flat:
            ax.axis("off")
        for ax, (img, label, pred, loss) in zip(axes.flat, worst):
            ax.imshow(img.squeeze(0).numpy(), cmap="gray")
            ax.set_title(f"{label}→{pred}  ({loss:.1f})", fontsize=13)
        fig.suptitle(f"{self.name}, step {step}: true→predicted (loss)", fontsize=11)
        fig.tight_layout()
        return fig

    def hparams(self, values: dict, loss: float, accuracy: float, step: int) -> None:
        """The declared experiment (mnist_cnn.hparams) and this run's values, with the final
        full-test-set accuracy and loss as the metrics, written into this run (not a sub-run)."""
        if self.test_logged_at != step:  # the final evaluation is the metric: make it a point of its tags
            self.scalars(step, {T.TEST_LOSS_FULL: loss, T.TEST_ACCURACY_FULL: accuracy})
        fw = self.writer._get_file_writer()
        for s in (hp.experiment_summary(), *hp.session_summaries(self.name, values, self.started)):
            fw.add_summary(s)

    def close(self) -> None:
        self.writer.close()

"""`python -m mnist_cnn.train --opt adam`: train the MNIST CNN with TensorBoard summaries.

Read top to bottom: build (model, optimizer, data), train_one_epoch, evaluate, main."""
from __future__ import annotations

import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from tqdm import tqdm

import reference

from . import checkpoint, distributed
from .config import Config, parse_args, parser
from .data import MEAN, STD, DataError, load_mnist
from .spec import cnn_spec
from .summaries import Summaries

PROBE_SIZE = 64      # fixed test images whose activations are summarised
WORST_SHOWN = 16     # worst-classified test digits shown at each evaluation
DRY_RUN_STEPS = 3


class NonFiniteLoss(Exception):
    pass


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""
    step: int = 0           # optimizer steps done
    epoch: int = 0          # current epoch
    step_in_epoch: int = 0  # batches of the current epoch done


@dataclass
class Run:
    """Everything a training run holds."""
    cfg: Config
    model: nn.Module        # possibly wrapped in DistributedDataParallel
    net: nn.Sequential      # the bare model
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    data: tuple
    total_steps: int
    rank: int = 0
    world: int = 1
    progress: Progress = field(default_factory=Progress)
    summaries: Summaries | None = None
    run_dir: str = ""
    ckpt_path: Path | None = None
    probe: torch.Tensor | None = None
    stop_requested: bool = False


# --- build --------------------------------------------------------------------------

def pick_device(cfg: Config, local_rank: int) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            parser().error("argument --device: cuda requested but no CUDA device is available")
        return torch.device("cuda", local_rank)
    if cfg.amp:
        parser().error("argument --amp: bf16 autocast is for CUDA; on the CPU leave it off")
    # Denormal floats are slow on x86 CPUs and below anything that matters here (measured +4%).
    torch.set_flush_denormal(True)
    return torch.device("cpu")


def build_model(cfg: Config, device: torch.device) -> nn.Sequential:
    """The torch model of the project's CNN spec, initialised from cfg.seed."""
    net = reference.build(cnn_spec(cfg.act, cfg.init, cfg.dropout), seed=cfg.seed).to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def build_optimizer(cfg: Config, net: nn.Module, total_steps: int):
    # fused: one kernel for the whole update instead of ~10 passes over fc1's 3.2M weights;
    # measured 12% more images/s on the 2-core CPU (benchmarks/bench_mnist_trainer.py)
    if cfg.opt == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=True)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, fused=True)
    if cfg.schedule == "cosine":  # anneal to zero over the whole run, one value per step
        factor = lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total_steps) / total_steps))
    else:
        factor = lambda t: 1.0
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def epoch_indices(n: int, cfg: Config, epoch: int, rank: int, world: int) -> list[int]:
    """This process's shuffled share of the training set for `epoch` (seeded, reproducible)."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def batches(run: Run, indices: list[int]):
    """(images, labels) batches of this process's share, from preloaded tensors or a DataLoader."""
    x, y = run.data[0], run.data[1]
    per_rank = run.cfg.batch_size // run.world
    if run.cfg.num_workers == 0:
        for i in range(0, len(indices), per_rank):
            idx = torch.tensor(indices[i:i + per_rank])
            yield x[idx], y[idx]
    else:
        yield from DataLoader(TensorDataset(x, y), batch_size=per_rank, sampler=indices,
                              num_workers=run.cfg.num_workers)


# --- train ----------------------------------------------------------------------------

def train_one_epoch(run: Run, bar) -> None:
    cfg, p = run.cfg, run.progress
    run.model.train()
    n = len(run.data[0])
    indices = epoch_indices(n, cfg, p.epoch, run.rank, run.world)
    per_rank = cfg.batch_size // run.world
    indices = indices[p.step_in_epoch * per_rank:]  # resume mid-epoch: skip what was done
    window = [0.0, 0, 0]  # loss sum, correct, seen since the last summary
    t0, seen0 = time.perf_counter(), 0
    for xb, yb in batches(run, indices):
        if p.step >= run.total_steps or run.stop_requested:
            return
        xb, yb = to_device(run, xb), yb.to(run.device, non_blocking=True)
        summary_step = run.summaries is not None and (p.step + 1) % cfg.summary_every == 0
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
            logits = run.model(xb)
            loss = F.cross_entropy(logits.float(), yb)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss is {loss.item()} at step {p.step + 1}: stopping; "
                                f"the last good checkpoint is kept, nothing new is written")
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        before = {k: v.detach().clone() for k, v in run.net.named_parameters()} if summary_step else None
        run.opt.step()
        run.sched.step()
        p.step += 1
        p.step_in_epoch += 1
        window[0] += loss.item() * len(yb)
        window[1] += (logits.argmax(1) == yb).sum().item()
        window[2] += len(yb)
        seen0 += len(yb) * run.world
        if p.step % 10 == 0 or p.step == run.total_steps:
            rate = seen0 / (time.perf_counter() - t0)
            bar.set_postfix(epoch=p.epoch + 1, loss=f"{window[0] / window[2]:.4f}",
                            acc=f"{window[1] / window[2]:.4f}", img_s=f"{rate:.0f}", refresh=False)
        bar.update(1)
        if summary_step:
            write_train_summaries(run, window, before, seen0 / (time.perf_counter() - t0))
            window = [0.0, 0, 0]
        if cfg.eval_every and p.step % cfg.eval_every == 0:
            evaluate_and_log(run)
            run.model.train()


def to_device(run: Run, xb: torch.Tensor) -> torch.Tensor:
    xb = xb.to(run.device, non_blocking=True)
    return xb.contiguous(memory_format=torch.channels_last) if run.cfg.channels_last else xb


def write_train_summaries(run: Run, window: list, before: dict, images_per_s: float) -> None:
    """Loss and accuracy (all-reduced over processes) and, on rank 0, the layer statistics."""
    loss_sum, correct, seen = distributed.all_reduce_sum(window, run.device)
    if run.rank != 0:
        return
    s, step, cfg = run.summaries, run.progress.step, run.cfg
    s.train_scalars(step, loss_sum / seen, correct / seen, run.opt.param_groups[0]["lr"], images_per_s)
    hist = step % cfg.hist_every == 0
    s.params_and_grads(step, run.net, hist)
    s.activations(step, run.net, run.probe, hist)
    s.update_ratios(step, before, run.net)


# --- evaluate ---------------------------------------------------------------------

@torch.no_grad()
def evaluate(run: Run, batch: int = 1000):
    """Test loss, accuracy, confusion matrix and the worst-classified digits (this
    process's share of the test set, all-reduced)."""
    run.model.eval()
    x, y = run.data[2], run.data[3]
    share = torch.arange(run.rank, len(x), run.world)
    loss_sum, correct = 0.0, 0
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    worst_loss = torch.empty(0)
    worst_idx = worst_pred = torch.empty(0, dtype=torch.long)
    for i in range(0, len(share), batch):
        idx = share[i:i + batch]
        xb, yb = to_device(run, x[idx]), y[idx].to(run.device)
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.cfg.amp):
            logits = run.net(xb).float()
        losses = F.cross_entropy(logits, yb, reduction="none").cpu()
        pred = logits.argmax(1).cpu()
        loss_sum += losses.sum().item()
        correct += (pred == y[idx]).sum().item()
        confusion += torch.bincount(y[idx] * 10 + pred, minlength=100).reshape(10, 10)
        worst_loss, order = torch.cat([worst_loss, losses]).sort(descending=True)
        order = order[:WORST_SHOWN]
        worst_idx, worst_pred = torch.cat([worst_idx, idx])[order], torch.cat([worst_pred, pred])[order]
        worst_loss = worst_loss[:WORST_SHOWN]
    loss_sum, correct = distributed.all_reduce_sum([loss_sum, correct], run.device)
    confusion = distributed.all_reduce_tensor(confusion.to(run.device)).cpu()
    worst = [(x[i] * STD + MEAN, int(y[i]), int(pr), float(lo))  # back to [0, 1] pixels
             for i, pr, lo in zip(worst_idx.tolist(), worst_pred.tolist(), worst_loss)]
    return loss_sum / len(x), correct / len(x), confusion, worst


def evaluate_and_log(run: Run) -> tuple[float, float]:
    loss, acc, confusion, worst = evaluate(run)
    if run.rank == 0 and run.summaries is not None:
        step = run.progress.step
        run.summaries.evaluation(step, loss, acc, confusion, worst)
        run.summaries.filters(step, run.net)
    return loss, acc


# --- checkpoints, run folders -------------------------------------------------------

def save_checkpoint(run: Run) -> None:
    if run.rank != 0 or run.ckpt_path is None:
        return
    p = run.progress
    state = {"model": run.net.state_dict(), "optimizer": run.opt.state_dict(),
             "scheduler": run.sched.state_dict(), "step": p.step, "epoch": p.epoch,
             "step_in_epoch": p.step_in_epoch, "rng_cpu": torch.get_rng_state(),
             "config": run.cfg.to_dict(), "run_dir": run.run_dir}
    if run.device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(run.device)
    checkpoint.save(run.ckpt_path, state)


def restore(run: Run, state: dict) -> None:
    run.net.load_state_dict(state["model"])
    run.opt.load_state_dict(state["optimizer"])
    run.sched.load_state_dict(state["scheduler"])
    run.progress = Progress(state["step"], state["epoch"], state["step_in_epoch"])
    torch.set_rng_state(state["rng_cpu"])
    if run.device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], run.device)


def fresh_run_dir(cfg: Config) -> str:
    """logdir/<run-name>, or <run-name>-2, -3, ... where that name already has logs or a
    checkpoint: an existing run is never overwritten."""
    name, k = cfg.run_name, 2
    while os.path.exists(os.path.join(cfg.logdir, name)) or os.path.exists(os.path.join(cfg.checkpoint_dir, name)):
        name, k = f"{cfg.run_name}-{k}", k + 1
    return os.path.join(cfg.logdir, name)


def request_stop(run: Run):
    """First Ctrl-C: finish the current step, checkpoint, exit. Second: stop at once."""
    def handler(signum, frame):
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_requested = True
        print("\ninterrupted: finishing this step, then writing a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr)
    return handler


# --- main -------------------------------------------------------------------------------

def setup(cfg: Config) -> Run:
    rank, world, local_rank = distributed.init()
    if cfg.batch_size % world:
        parser().error(f"argument --batch-size: {cfg.batch_size} does not split evenly over {world} processes")
    device = pick_device(cfg, local_rank)
    torch.manual_seed(cfg.seed)
    state = None
    if cfg.resume:
        try:
            state = checkpoint.load(checkpoint.resolve(cfg.resume))
        except (FileNotFoundError, ValueError) as err:
            parser().error(str(err).replace("argument --resume: ", "argument --resume: ", 1))
    data = load_mnist(cfg.data_dir)
    if cfg.dry_run:
        data = (data[0][:500], data[1][:500], data[2][:500], data[3][:500])
    per_rank = cfg.batch_size // world
    steps_per_epoch = math.ceil(math.ceil(len(data[0]) / world) / per_rank)
    planned = steps_per_epoch * cfg.epochs  # the lr schedule spans all epochs ...
    total = min(planned, cfg.steps or planned, DRY_RUN_STEPS if cfg.dry_run else planned)  # ... --steps may stop sooner
    net = build_model(cfg, device)
    model = net
    if world > 1:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[local_rank] if device.type == "cuda" else None)
    opt, sched = build_optimizer(cfg, net, planned)
    run = Run(cfg, model, net, opt, sched, device, data, total, rank, world)
    run.probe = to_device(run, data[2][:PROBE_SIZE])
    if state is not None:
        restore(run, state)
    if rank == 0:
        if cfg.dry_run:
            run.run_dir = tempfile.mkdtemp(prefix="mnist-dry-run-")
        elif state is not None:
            run.run_dir = state["run_dir"]
        else:
            run.run_dir = fresh_run_dir(cfg)
        name = os.path.basename(run.run_dir)
        run.ckpt_path = None if cfg.dry_run else Path(cfg.checkpoint_dir) / name / checkpoint.LATEST
        if cfg.summaries:
            # purge_step drops events a crashed run wrote past its last checkpoint
            run.summaries = Summaries(run.run_dir, purge_step=run.progress.step if state else None)
    return run


def train(run: Run) -> tuple[float, float]:
    """Epochs until done (or stopped); returns the final test (loss, accuracy)."""
    cfg, p = run.cfg, run.progress
    if run.summaries is not None and p.step == 0:
        run.summaries.graph(run.net, run.probe)
        run.summaries.snapshot(run.net, run.probe, run.data[3][:len(run.probe)].to(run.device))
    if cfg.summaries and p.step == 0:  # every process: evaluation all-reduces
        evaluate_and_log(run)
    bar = tqdm(total=run.total_steps, initial=p.step, disable=run.rank != 0, unit="step",
               dynamic_ncols=True, mininterval=1.0)
    try:
        while p.step < run.total_steps and not run.stop_requested:
            train_one_epoch(run, bar)
            if p.step_in_epoch * (cfg.batch_size // run.world) >= math.ceil(len(run.data[0]) / run.world):
                p.epoch, p.step_in_epoch = p.epoch + 1, 0
                if not cfg.eval_every:
                    evaluate_and_log(run)
            save_checkpoint(run)
        if run.stop_requested:  # Ctrl-C before the first step: still leave a checkpoint
            save_checkpoint(run)
    finally:
        bar.close()
    return evaluate(run)[:2]


@dataclass
class Outcome:
    test_accuracy: float
    test_loss: float
    minutes: float
    run: Run


def fit(cfg: Config) -> Outcome:
    """Set up, train, write the final summaries; raises DataError or NonFiniteLoss."""
    run = setup(cfg)
    previous = signal.signal(signal.SIGINT, request_stop(run))
    start = time.perf_counter()
    try:
        loss, acc = train(run)
    finally:
        signal.signal(signal.SIGINT, previous)
    if run.rank == 0 and run.summaries is not None:
        run.summaries.hparams(cfg.to_dict(), loss, acc, run.progress.step)
        run.summaries.close()
    return Outcome(acc, loss, (time.perf_counter() - start) / 60, run)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        out = fit(cfg)
    except (DataError, NonFiniteLoss) as err:
        print(f"mnist_cnn: {err}", file=sys.stderr)
        return 1
    run = out.run
    if run.rank == 0:
        state = "stopped early" if run.stop_requested else "done"
        print(f"{state}: step {run.progress.step}/{run.total_steps}, test accuracy {out.test_accuracy:.4f} "
              f"(loss {out.test_loss:.4f}) after {out.minutes:.1f} min")
        logdir = os.path.dirname(run.run_dir) if cfg.dry_run else cfg.logdir
        print(f"TensorBoard logs: {run.run_dir}   (tensorboard --logdir {logdir})")
        if run.ckpt_path is not None:
            print(f"checkpoint: {run.ckpt_path}   (continue with --resume {run.ckpt_path.parent})")
        if cfg.dry_run:
            print("dry run OK")
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

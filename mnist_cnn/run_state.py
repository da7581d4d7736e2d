"""A training run: its fixed setup (Run) and its changing state (State), built from a Config,
claimed on disk, saved to and restored from checkpoints."""
from __future__ import annotations

import math
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import reference
from nn_crosscheck_common import UsageError, claim_run_dir
from numpy_impl import OptimSpec
from numpy_impl.spec import ModelSpec

from . import checkpoint, distributed
from .config import Config, merge_on_resume, validate
from .data import load_mnist
from .bf16 import cpu_bf16_problem
from .errors import Aborted, Diverged, WriteFailed, divergence
from .spec import cnn_spec
from .summaries import Summaries

PROBE_SIZE = 64      # fixed test images whose activations are summarised
DRY_RUN_STEPS = 3
DRY_RUN_IMAGES = 500
RESIDENT_FRACTION = 0.25  # keep the data on the GPU when it takes at most this share of free memory
EVAL_POINTS = 40     # evaluations of the test subset per run by default: enough points to draw a curve
# By default an evaluation holds at most this many test images per training image since the last one:
# a test image (forward only, eval mode) costs 0.1-0.2 of a training image (measured), so the
# curve costs at most ~5% of training however short the run (a 3-epoch run keeps all 1000).
EVAL_IMAGES_PER_TRAIN_IMAGE = 0.25
MIN_EVAL_SUBSET = 100


@dataclass
class Run:
    """What a run is, fixed once set up: configuration, model, optimizer, device, data, place."""
    cfg: Config
    model: nn.Module        # possibly wrapped in DistributedDataParallel
    net: nn.Sequential      # the bare model
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    data: tuple             # train x, train y, test x, test y (on the device when they fit)
    total_steps: int
    steps_per_epoch: int
    rank: int = 0
    world: int = 1
    run_dir: Path | None = None           # TensorBoard folder (rank 0)
    ckpt_path: Path | None = None         # rank 0; None for a dry run
    summaries: Summaries | None = None
    probe: torch.Tensor | None = None
    eval_every: int = 1                   # steps between evaluations of the test subset
    eval_subset: torch.Tensor | None = None  # indices of the fixed test subset
    history: list = field(default_factory=list)   # what each resume changed
    scratch: tempfile.TemporaryDirectory | None = None  # a dry run's logs, removed at the end


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""
    step: int = 0           # optimizer steps done
    epoch: int = 0          # current epoch
    step_in_epoch: int = 0  # batches of the current epoch done


@dataclass
class State:
    """What changes while training."""
    progress: Progress = field(default_factory=Progress)
    window: list = field(default_factory=lambda: [0.0, 0.0, 0])  # loss sum, correct, seen since the last summary
    stop_requested: bool = False  # by a signal to this process
    stop_agreed: bool = False     # by every process, at a sync point: all stop at the same step
    start_loss: float | None = None  # training loss of step 1, the untrained model (errors.divergence)


# --- build --------------------------------------------------------------------------

def pick_device(cfg: Config, local_rank: int) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise UsageError("argument --device: cuda requested but no CUDA device is available")
        return torch.device("cuda", local_rank)
    problem = cpu_bf16_problem() if cfg.amp else None
    if problem:
        raise UsageError(problem)
    # Denormal floats are slow on x86 CPUs and below anything that matters here (measured +4%).
    torch.set_flush_denormal(True)
    return torch.device("cpu")


def model_spec(cfg: Config) -> ModelSpec:
    """The network this run trains, described once (its summaries name layers from it too)."""
    return cnn_spec(cfg.act, cfg.init, cfg.dropout)


def build_model(cfg: Config, device: torch.device) -> nn.Sequential:
    """The torch model of the project's CNN spec, initialised from cfg.seed."""
    net = reference.build(model_spec(cfg), seed=cfg.seed).to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def optim_spec(cfg: Config) -> OptimSpec:
    """The trainer's optimizer in the project's one description (its lr schedule is its own)."""
    if cfg.opt == "adam":
        return OptimSpec("adam", cfg.lr)
    return OptimSpec("sgd", cfg.lr, momentum=cfg.momentum)


def build_optimizer(cfg: Config, net: nn.Module, planned_steps: int):
    # fused: one kernel for the whole update instead of ~10 passes over fc1's 3.2M weights;
    # measured 12% more images/s on the 2-core CPU (benchmarks/bench_mnist_trainer.py)
    opt = reference.torch_optimizer(optim_spec(cfg), net.parameters(), fused=True)
    if cfg.schedule == "cosine":  # anneal to zero over the whole run, one value per step
        factor = lambda t: 0.5 * (1 + math.cos(math.pi * min(t, planned_steps) / planned_steps))
    else:
        factor = lambda t: 1.0
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def place_data(data: tuple, device: torch.device) -> tuple:
    """The tensors on `device` when they fit comfortably (batches are then sliced there, no
    host copies per step); otherwise left on the host."""
    if device.type != "cuda":
        return data
    size = sum(t.numel() * t.element_size() for t in data)
    free, _ = torch.cuda.mem_get_info(device)
    return tuple(t.to(device) for t in data) if size <= RESIDENT_FRACTION * free else data


def eval_cadence(cfg: Config, total: int) -> tuple[int, int]:
    """(steps between evaluations of the test subset, its size): as asked with --eval-every;
    by default EVAL_POINTS per run, on a subset capped so that they stay cheap."""
    if cfg.eval_every:
        return cfg.eval_every, cfg.eval_subset
    every = max(1, total // EVAL_POINTS)
    cap = max(MIN_EVAL_SUBSET, int(EVAL_IMAGES_PER_TRAIN_IMAGE * cfg.batch_size * every))
    return every, min(cfg.eval_subset, cap)


def test_subset(n: int, size: int, device: torch.device) -> torch.Tensor:
    """Indices of `size` test images (all when fewer), drawn once with a fixed seed: the same
    images in every run, whatever its --seed, so runs' test curves compare."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return order[:size].sort().values.to(device)


def steps_per_epoch(n: int, batch: int, world: int) -> int:
    """Full global batches, plus the last partial one when it splits evenly over the processes."""
    rest = n % batch
    return n // batch + (1 if rest and rest % world == 0 else 0)


# --- setup -------------------------------------------------------------------------------

def claim_folders(cfg: Config) -> tuple[Path, Path]:
    """logdir/<name> and checkpoint_dir/<name> of a new run, both created exclusively: two runs
    started with the same --run-name at the same moment get different names (<name>-2, ...)."""
    try:
        for _ in range(1000):
            run_dir = claim_run_dir(cfg.logdir, cfg.run_name, also_free_in=(cfg.checkpoint_dir,))
            ckpt_dir = Path(cfg.checkpoint_dir) / run_dir.name
            if ckpt_dir.resolve() == run_dir.resolve():  # one folder for both: claimed already
                return run_dir, ckpt_dir
            try:
                ckpt_dir.mkdir(parents=True)
                return run_dir, ckpt_dir
            except FileExistsError:  # taken in the checkpoint folder meanwhile: next name
                run_dir.rmdir()
    except OSError as err:
        raise UsageError(f"cannot create a run folder in {cfg.logdir} or {cfg.checkpoint_dir}: "
                         f"{err.strerror or err}") from None
    raise UsageError(f"no free run name {cfg.run_name}-N in {cfg.logdir}")


def load_resume(cfg: Config, given: frozenset[str] | None) -> tuple[Config, dict, Path]:
    """(the run's configuration, the checkpoint, its path); flags that would change the run
    are refused (UsageError), allowed ones recorded."""
    path = checkpoint.resolve(cfg.resume)
    state, sealed = checkpoint.load(path)
    first = distributed.world_and_local_rank()[1] == 0
    if not sealed and first:
        print(f"note: {path} carries no checksum (written before checkpoints had one), so its bytes cannot "
              f"be verified; its values are checked, and the next checkpoint will carry one", file=sys.stderr)
    if given is None:  # built in code: every field that differs from the defaults was asked for
        defaults = Config(run_name=cfg.run_name, data_dir=cfg.data_dir)
        given = frozenset(k for k, v in cfg.to_dict().items() if v != getattr(defaults, k))
    merged, changed = merge_on_resume(Config.from_dict(state["config"]), cfg, given)
    history = list(state.get("history", [])) + ([{"step": state["step"], "changed": changed}] if changed else [])
    state["history"] = history
    if changed and first:
        print(f"resuming at step {state['step']} with " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()))
    return merged, state, path


def setup(cfg: Config, given: frozenset[str] | None = None) -> tuple[Run, State]:
    """Everything a run needs; `given` names the command-line flags typed (for --resume).
    Raises UsageError, DataError."""
    validate(cfg)
    saved = None
    if cfg.resume:
        cfg, saved, resumed_from = load_resume(cfg, given)
    world, local_rank = distributed.world_and_local_rank()
    if cfg.batch_size % world:
        raise UsageError(f"argument --batch-size: {cfg.batch_size} does not split evenly over {world} processes")
    device = pick_device(cfg, local_rank)
    rank, world = distributed.init(device)
    torch.manual_seed(cfg.seed)
    data = load_mnist(cfg.data_dir)
    if cfg.dry_run:
        data = tuple(t[:DRY_RUN_IMAGES] for t in data)
    data = place_data(data, device)
    per_epoch = steps_per_epoch(len(data[0]), cfg.batch_size, world)
    planned = per_epoch * cfg.epochs  # the lr schedule spans all epochs; --steps may stop sooner
    total = min(planned, cfg.steps or planned, DRY_RUN_STEPS if cfg.dry_run else planned)
    if saved is not None:
        checkpoint.check_fits(saved, resumed_from, planned, cfg.epochs, per_epoch)
    net = build_model(cfg, device)
    model = net
    if world > 1:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    opt, sched = build_optimizer(cfg, net, planned)
    run, state = Run(cfg, model, net, opt, sched, device, data, total, per_epoch, rank, world), State()
    run.probe = to_device(run, data[2][:PROBE_SIZE])
    run.eval_every, size = eval_cadence(cfg, total)
    run.eval_subset = test_subset(len(data[2]), size, data[2].device)
    if saved is not None:
        restore(run, state, saved)
    if rank == 0:
        place(run, state, saved, resumed_from if saved is not None else None)
    return run, state


def place(run: Run, state: State, saved: dict | None, resumed_from: Path | None) -> None:
    """Rank 0's folders: the resumed run's own, a fresh claimed pair, or a dry run's scratch."""
    cfg = run.cfg
    if cfg.dry_run:
        run.scratch = tempfile.TemporaryDirectory(prefix="mnist-dry-run-")
        run.run_dir = Path(run.scratch.name)
    elif saved is not None:
        run.run_dir, run.ckpt_path = saved_run_dir(saved, resumed_from), resumed_from
    else:
        run_dir, ckpt_dir = claim_folders(cfg)
        run.run_dir, run.ckpt_path = run_dir.absolute(), ckpt_dir.absolute() / checkpoint.LATEST
    if cfg.summaries:
        try:  # purge_step drops events a crashed run wrote past its last checkpoint
            run.summaries = Summaries(str(run.run_dir), model_spec(cfg), purge_step=state.progress.step if saved else None)
        except OSError as err:
            raise WriteFailed(f"could not write TensorBoard logs in {run.run_dir}: {err.strerror or err}; "
                              f"{checkpoint.kept_or_none(run.ckpt_path)}") from None


def saved_run_dir(saved: dict, ckpt_path: Path) -> Path:
    """The run's TensorBoard folder. Checkpoints store it absolute; older ones stored it relative
    to the folder the run started in, which is found from where the checkpoint lies
    (<start>/<checkpoint_dir>/<name>/latest.pt) when its checkpoint_dir was relative."""
    run_dir = Path(saved["run_dir"])
    if run_dir.is_absolute():
        return run_dir
    folder, ckpt_dir = ckpt_path.absolute().parent.parent, Path(saved["config"].get("checkpoint_dir", "."))
    cut = len(folder.parts) - len(ckpt_dir.parts)  # "." has no parts: the start folder itself
    if not ckpt_dir.is_absolute() and cut > 0 and folder.parts[cut:] == ckpt_dir.parts:
        return Path(*folder.parts[:cut]) / run_dir
    return run_dir.absolute()


def to_device(run: Run, xb: torch.Tensor) -> torch.Tensor:
    xb = xb.to(run.device, non_blocking=True)
    return xb.contiguous(memory_format=torch.channels_last) if run.cfg.channels_last else xb


# --- checkpoints ----------------------------------------------------------------------

def check_finite_weights(run: Run, state: State) -> None:
    """Never checkpoint a diverged model: a NaN, Inf or a weight beyond errors.WEIGHT_BOUND
    (every rank checks: the replicas are identical)."""
    largest = float(torch.stack([p.detach().abs().max() for p in run.net.parameters()]).max())
    why = divergence(state.progress.step, state.progress.step, 0.0, None, largest)
    if why:
        raise Diverged(why)


def save_checkpoint(run: Run, state: State) -> None:
    check_finite_weights(run, state)
    if run.rank != 0 or run.ckpt_path is None:
        return
    p = state.progress
    saved = {"model": run.net.state_dict(), "optimizer": run.opt.state_dict(),
             "scheduler": run.sched.state_dict(), "step": p.step, "epoch": p.epoch,
             "step_in_epoch": p.step_in_epoch, "rng_cpu": torch.get_rng_state(),
             "config": run.cfg.to_dict(), "run_dir": str(run.run_dir), "window": list(state.window),
             "history": run.history, "start_loss": state.start_loss}
    if run.device.type == "cuda":
        saved["rng_cuda"] = torch.cuda.get_rng_state(run.device)
    checkpoint.save(run.ckpt_path, saved)


def restore(run: Run, state: State, saved: dict) -> None:
    try:
        run.net.load_state_dict(saved["model"])
        run.opt.load_state_dict(saved["optimizer"])
        run.sched.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng_cpu"])
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"argument --resume: the checkpoint does not fit this model "
                         f"({str(err).splitlines()[0][:160]})") from None
    state.progress = Progress(saved["step"], saved["epoch"], saved["step_in_epoch"])
    state.window = list(saved.get("window", [0.0, 0.0, 0]))
    state.start_loss = saved.get("start_loss")  # older checkpoints: the first window after the resume
    run.history = saved.get("history", [])
    if run.device.type == "cuda" and "rng_cuda" in saved:
        torch.cuda.set_rng_state(saved["rng_cuda"], run.device)


# --- stopping ----------------------------------------------------------------------------

def stop_handler(state: State, ckpt_path: Path | None = None):
    """First Ctrl-C or SIGTERM: finish the step, checkpoint, exit. Second: stop at once (Aborted)."""
    def handler(signum, frame):
        if state.stop_requested:
            if ckpt_path is not None and ckpt_path.is_file():
                raise Aborted(f"aborted by a second interrupt at step {state.progress.step}; the last "
                              f"checkpoint is kept: --resume {ckpt_path.parent}")
            raise Aborted(f"aborted by a second interrupt at step {state.progress.step}, before the "
                          f"run's first checkpoint: nothing was saved")
        state.stop_requested = True
        print(f"\n{signal.Signals(signum).name}: finishing this step, then writing a checkpoint "
              f"(Ctrl-C again to abort)", file=sys.stderr)
    return handler

"""`mnist-cnn-train --opt adam` (or `python -m mnist_cnn.train`): train the MNIST CNN with TensorBoard summaries.

Read top to bottom: train_one_epoch (with its sync points), evaluate, train, fit, main. The
run's setup and checkpoints are in run_state.py."""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from nn_crosscheck_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError

from . import distributed, hparams
from .checkpoint import kept_or_none
from .config import Config, parse_command_line, prog
from .data import MEAN, STD, DataError
from .errors import KEPT, NOT_STARTED, Aborted, Diverged, NonFiniteLoss, WriteFailed, divergence
from .run_state import Run, State, save_checkpoint, setup, stop_handler, to_device

__all__ = ["Diverged", "NonFiniteLoss", "Outcome", "evaluate", "fit", "main", "setup", "train",
           "train_one_epoch"]

WORST_SHOWN = 16     # worst-classified test digits shown at each evaluation
SYNC_EVERY = 20      # steps between reads of the device-side loss (progress, non-finite check, stop)
EXIT_ABORTED = 130   # a second Ctrl-C: the shell's convention for SIGINT


class Meter:
    """Each step's loss sum and correct count, kept on the device until the next sync point,
    so that the steady-state step never waits for the GPU."""

    def __init__(self, device: torch.device) -> None:
        self.values = torch.zeros(2, SYNC_EVERY, dtype=torch.float64, device=device)
        self.seen: list[int] = []  # this process's batch sizes, known on the host

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        i = len(self.seen)
        self.values[0, i] = loss.detach() * len(y)
        self.values[1, i] = (logits.detach().argmax(1) == y).sum()
        self.seen.append(len(y))


# --- train ----------------------------------------------------------------------------

def train_one_epoch(run: Run, state: State, bar, until: int | None = None) -> None:
    """Steps of the current epoch, from where it stands, until the epoch ends, the run's last
    step (or `until`), or an agreed stop."""
    cfg, p = run.cfg, state.progress
    until = run.total_steps if until is None else until
    run.model.train()
    x, y = run.data[0], run.data[1]
    g = torch.Generator(device=x.device).manual_seed(cfg.seed * 1_000_003 + p.epoch)  # seeded, per epoch
    perm = torch.randperm(len(x), generator=g, device=x.device)
    meter, t0, step0 = Meter(run.device), time.perf_counter(), p.step
    logging_s = 0.0  # spent on summaries and evaluations: not training, left out of images/s
    while p.step_in_epoch < run.steps_per_epoch and p.step < until and not state.stop_agreed:
        start = p.step_in_epoch * cfg.batch_size
        idx = perm[start:start + cfg.batch_size][run.rank::run.world]  # this process's share
        xb, yb = to_device(run, x[idx]), y[idx].to(run.device, non_blocking=True)
        summary_step = (p.step + 1) % cfg.summary_every == 0
        before = None
        if summary_step and run.summaries is not None:
            before = {k: v.detach().clone() for k, v in run.net.named_parameters()}
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
            logits = run.model(xb)
            loss = F.cross_entropy(logits.float(), yb)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.sched.step()
        meter.add(loss, logits, yb)
        p.step += 1
        p.step_in_epoch += 1
        if is_sync_point(run, state, until):
            rate = (p.step - step0) * cfg.batch_size / (time.perf_counter() - t0 - logging_s)
            sync(run, state, meter, bar, rate)
            t_log = time.perf_counter()
            if summary_step:
                write_train_summaries(run, state, before, rate)
            if is_eval_step(run, p.step):
                evaluate_and_log(run, state, full=False)
                run.model.train()
            logging_s += time.perf_counter() - t_log


def is_sync_point(run: Run, state: State, until: int) -> bool:
    """The same answer on every process (a signal to one process waits for the next point)."""
    p, cfg = state.progress, run.cfg
    return (p.step % SYNC_EVERY == 0 or p.step % cfg.summary_every == 0 or p.step >= until
            or p.step_in_epoch == run.steps_per_epoch or is_eval_step(run, p.step)
            or (run.world == 1 and state.stop_requested))


def is_eval_step(run: Run, step: int) -> bool:
    """Whether the test subset is evaluated after `step`: every run.eval_every steps, and the last."""
    return run.cfg.summaries and (step % run.eval_every == 0 or step == run.total_steps)


def sync(run: Run, state: State, meter: Meter, bar, rate: float) -> None:
    """Read (and all-reduce) the losses since the last sync: stop on the first non-finite one,
    naming its step; agree on a stop request; update the window and the bar."""
    n, p = len(meter.seen), state.progress
    flag = torch.tensor([float(state.stop_requested)], dtype=torch.float64, device=run.device)
    weight = torch.stack([w.detach().abs().max() for w in run.net.parameters()]).max().double().reshape(1)
    values = distributed.all_reduce_tensor(torch.cat([meter.values[:, :n].flatten(), weight, flag])).tolist()
    losses, correct = values[:n], values[n:2 * n]
    for i, value in enumerate(losses):
        if not math.isfinite(value):
            raise Diverged(f"training loss is {value} at step {p.step - n + i + 1}: {KEPT}")
    seen = sum(meter.seen) * run.world  # every process holds an equal share of each batch
    mean = sum(losses) / seen
    if state.start_loss is None:  # the untrained model's loss (step 1); an older checkpoint's resume: this window's
        state.start_loss = losses[0] / (meter.seen[0] * run.world) if p.step == n else mean
    why = divergence(p.step - n + 1, p.step, mean, state.start_loss, values[-2] / run.world)  # replicas: same max
    if why:
        raise Diverged(why)
    state.window = [state.window[0] + sum(losses), state.window[1] + sum(correct), state.window[2] + seen]
    state.stop_agreed = values[-1] > 0
    meter.values.zero_()
    meter.seen.clear()
    bar.set_postfix(epoch=p.epoch + 1, loss=f"{sum(losses) / seen:.4f}", acc=f"{sum(correct) / seen:.4f}",
                    img_s=f"{rate:.0f}", refresh=False)
    bar.update(p.step - bar.n)


def write_logs(run: Run, method: str, *args) -> None:
    """Rank 0's TensorBoard writes; a full disk stops the run with one line naming the folder."""
    if run.rank != 0 or run.summaries is None:
        return
    try:
        getattr(run.summaries, method)(*args)
    except OSError as err:
        raise WriteFailed(f"could not write TensorBoard logs in {run.run_dir}: {err.strerror or err}; "
                          f"{kept_or_none(run.ckpt_path)}") from None


def write_train_summaries(run: Run, state: State, before: dict | None, images_per_s: float) -> None:
    """Loss and accuracy of the window (already all-reduced) and, on rank 0, the layer statistics."""
    loss_sum, correct, seen = state.window
    state.window = [0.0, 0.0, 0]
    step, cfg = state.progress.step, run.cfg
    write_logs(run, "train_scalars", step, loss_sum / seen, correct / seen, run.opt.param_groups[0]["lr"],
               images_per_s)
    hist = step % cfg.hist_every == 0
    write_logs(run, "params_and_grads", step, run.net, hist)
    write_logs(run, "activations", step, run.net, run.probe, hist)
    if before is not None:
        write_logs(run, "update_ratios", step, before, run.net)


# --- evaluate ---------------------------------------------------------------------

@torch.no_grad()
def evaluate(run: Run, subset: torch.Tensor | None = None, batch: int = 1000):
    """Test loss, accuracy, confusion matrix and the worst-classified digits of the test set or
    of the test images `subset` (indices), each process evaluating its share, all-reduced."""
    run.model.eval()
    x, y = run.data[2], run.data[3]
    chosen = torch.arange(len(x), device=x.device) if subset is None else subset
    share = chosen[run.rank::run.world]
    totals = torch.zeros(2, dtype=torch.float64, device=run.device)  # loss sum, correct
    confusion = torch.zeros(100, dtype=torch.int64, device=run.device)
    worst_loss = torch.empty(0)
    worst_idx = worst_pred = torch.empty(0, dtype=torch.long)
    for i in range(0, len(share), batch):
        idx = share[i:i + batch]
        xb, yb = to_device(run, x[idx]), y[idx].to(run.device)
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.cfg.amp):
            logits = run.net(xb).float()
        losses = F.cross_entropy(logits, yb, reduction="none")
        pred = logits.argmax(1)
        totals += torch.stack([losses.sum().double(), (pred == yb).sum().double()])
        confusion += torch.bincount(yb * 10 + pred, minlength=100)
        worst_loss, order = torch.cat([worst_loss, losses.cpu()]).sort(descending=True)
        order = order[:WORST_SHOWN]
        worst_idx = torch.cat([worst_idx, idx.cpu()])[order]
        worst_pred = torch.cat([worst_pred, pred.cpu()])[order]
        worst_loss = worst_loss[:WORST_SHOWN]
    loss_sum, correct = distributed.all_reduce_tensor(totals).tolist()
    confusion = distributed.all_reduce_tensor(confusion).reshape(10, 10).cpu()
    worst = [(x[i].cpu() * STD + MEAN, int(y[i]), int(pr), float(lo))  # back to [0, 1] pixels
             for i, pr, lo in zip(worst_idx.tolist(), worst_pred.tolist(), worst_loss)]
    return loss_sum / len(chosen), correct / len(chosen), confusion, worst


def evaluate_and_log(run: Run, state: State, full: bool = True) -> tuple[float, float]:
    """Evaluate the full test set (with its images) or the fixed test subset (the test curve);
    a non-finite test loss stops the run before anything is saved."""
    loss, acc, confusion, worst = evaluate(run) if full else evaluate(run, run.eval_subset)
    step = state.progress.step
    if not math.isfinite(loss):
        raise Diverged(f"test loss is {loss} after step {step}: {KEPT}")
    if full:
        write_logs(run, "evaluation", step, loss, acc, confusion, worst)
        write_logs(run, "filters", step, run.net)
    else:
        write_logs(run, "subset_evaluation", step, loss, acc)
    return loss, acc


# --- the run ----------------------------------------------------------------------------

def train(run: Run, state: State) -> tuple[float, float]:
    """Epochs until done (or stopped); returns the final test (loss, accuracy)."""
    cfg, p = run.cfg, state.progress
    if p.step == 0:
        write_logs(run, "graph", run.net, run.probe)
        write_logs(run, "snapshot", run.net, run.probe, run.data[3][:len(run.probe)].to(run.device))
    if cfg.summaries and p.step == 0:  # every process: evaluation all-reduces
        # the untrained net on the test curve; not on the full-set tags, whose few points (epoch
        # ends) TensorBoard's default smoothing would drag towards the untrained accuracy
        evaluate_and_log(run, state, full=False)
        write_logs(run, "filters", 0, run.net)
    bar = tqdm(total=run.total_steps, initial=p.step, disable=run.rank != 0, unit="step",
               dynamic_ncols=True, mininterval=1.0)
    final = None  # (step, (loss, accuracy)) of the last full-test-set evaluation
    try:
        while p.step < run.total_steps and not state.stop_agreed:
            train_one_epoch(run, state, bar)
            if p.step_in_epoch == run.steps_per_epoch:
                p.epoch, p.step_in_epoch = p.epoch + 1, 0
                final = (p.step, evaluate_and_log(run, state))
            save_checkpoint(run, state)  # after every epoch, and on a stop
    finally:
        bar.close()
    if final is not None and final[0] == p.step:
        return final[1]
    return evaluate_and_log(run, state)  # a run that stopped mid-epoch: its images too


@dataclass
class Outcome:
    test_accuracy: float
    test_loss: float
    minutes: float
    run: Run
    state: State


def fit(cfg: Config, given: frozenset[str] | None = None) -> Outcome:
    """Set up, train, write the final summaries. Raises UsageError or DataError (bad input,
    exit 2), Diverged or WriteFailed (exit 1)."""
    run, state = setup(cfg, given)
    handler = stop_handler(state, run.ckpt_path)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    start = time.perf_counter()
    try:
        loss, acc = train(run, state)
        write_logs(run, "hparams", hparams.values(run.cfg, state.progress.step, run.steps_per_epoch), loss, acc,
                   state.progress.step)
        write_logs(run, "close")
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        close_quietly(run)
    return Outcome(acc, loss, (time.perf_counter() - start) / 60, run, state)


def close_quietly(run: Run) -> None:
    """Flush what the logs hold even when the run failed; remove a dry run's scratch folder."""
    if run.summaries is not None:
        try:
            run.summaries.close()  # idempotent
        except OSError:
            pass  # the run is already failing; its own error says why
    if run.scratch is not None:
        run.scratch.cleanup()


def report(out: Outcome) -> None:
    run, state, cfg = out.run, out.state, out.run.cfg
    verdict = "stopped early" if state.stop_agreed else "done"
    print(f"{verdict}: step {state.progress.step}/{run.total_steps}, test accuracy {out.test_accuracy:.4f} "
          f"(loss {out.test_loss:.4f}) after {out.minutes:.1f} min")
    if cfg.dry_run:
        print("dry run OK (its logs were in a temporary folder, now removed)")
        return
    print(f"TensorBoard logs: {run.run_dir}   (tensorboard --logdir {run.run_dir.parent})")
    if run.ckpt_path is not None:
        print(f"checkpoint: {run.ckpt_path}   (continue with --resume {run.ckpt_path.parent})")


def quiet_writer_thread(args) -> None:
    """TensorBoard's writer thread hands its OSError (a full disk) to the main thread, which
    reports it in one line; do not print the thread's traceback as well."""
    if not issubclass(args.exc_type, OSError):
        threading.__excepthook__(args)


def main(argv: list[str] | None = None) -> int:
    """The command line; see config.EXIT_STATUSES for what the exit status means."""
    threading.excepthook = quiet_writer_thread
    try:
        cfg, given = parse_command_line(argv)
        out = fit(cfg, given)
    except UsageError as err:
        print(f"{prog()}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as err:
        print(f"mnist_cnn: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (Diverged, WriteFailed) as err:
        print(f"mnist_cnn: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as err:  # Aborted: a second one in training; else before the handlers
        print(f"mnist_cnn: {err if isinstance(err, Aborted) else NOT_STARTED}", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        distributed.shutdown()
    if out.run.rank == 0:
        report(out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""Runs that say what happened (issue 25, part C 1 and 5): divergence without a NaN, a stopped
sweep, interrupts before training and twice in it, full disks during a checkpoint or log write,
data that cannot be read. Each case: its exit status and its one line, no traceback."""
import errno
import os
import re
import signal

import pytest
import torch

from mnist_cnn import checkpoint, errors, run_state, sweep, train
from mnist_helpers import STEPS_PER_EPOCH, run_args, write_tiny_mnist

KEPT = "stopping; the last good checkpoint is kept, nothing new is written"
PROGRESS_BAR = re.compile(r"\| *\d+/\d+ \[")  # tqdm's "| 20/60 [00:13<00:27, 1.45step/s" (or 1.41s/step)
SIGNAL_NOTICE = re.compile(r"^SIG(INT|TERM): finishing this step")  # what the first signal prints at once


def _one_line(capsys) -> str:
    """stderr's one message line (the progress bar and a first signal's notice aside), no traceback."""
    err = capsys.readouterr().err.replace("\r", "\n")
    lines = [line for line in err.splitlines()
             if line.strip() and not PROGRESS_BAR.search(line) and not SIGNAL_NOTICE.match(line)]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _step(folder):
    return torch.load(folder / "latest.pt", weights_only=True)["step"]


# --- 1: divergence without NaN -----------------------------------------------------------------------

def _loss_plus(monkeypatch, extra: float, after: int):
    """Training's cross-entropy plus `extra` from the (after+1)-th training step on: a loss that
    blows up and stays finite (its gradient unchanged: only the loss tells)."""
    real, count = torch.nn.functional.cross_entropy, [0]

    def blown(logits, y, *args, **kwargs):
        loss = real(logits, y, *args, **kwargs)
        if kwargs.get("reduction", "mean") == "mean":
            count[0] += 1
            if count[0] > after:
                return loss + extra
        return loss
    monkeypatch.setattr(train.F, "cross_entropy", blown)


def test_a_finite_loss_that_blows_up_stops_like_a_nan(tiny, tmp_path, capsys, monkeypatch):
    """Loss +742 from step 24 on: the window of steps 21-40 is over 10x the first window's mean."""
    _loss_plus(monkeypatch, 742.0, STEPS_PER_EPOCH + 3)
    assert train.main(run_args(tiny, tmp_path, "--epochs", "3")) == 1
    line = _one_line(capsys)
    assert re.fullmatch(rf"mnist_cnn: training loss is [0-9.]+ over steps 21-40, more than 10 times its start "
                        rf"\([0-9.]+: step 1's loss, at least ln 10\): diverging; {KEPT}", line), line
    assert _step(tmp_path / "ckpt" / "t") == STEPS_PER_EPOCH  # the last good one


def test_sgd_at_lr_3_with_tanh_blows_up_without_nan_and_stops(tiny, tmp_path, capsys):
    """Unpatched: tanh keeps the loss finite while SGD at lr 3 sends it into the thousands (before:
    'done', exit 0, test loss 2304 and 8% accuracy)."""
    assert train.main(run_args(tiny, tmp_path, "--steps", "40", "--opt", "sgd", "--lr", "3", "--act", "tanh")) == 1
    assert re.fullmatch(rf"mnist_cnn: training loss is [0-9.e+]+ over steps 1-20, more than 10 times its start "
                        rf"\([0-9.]+: step 1's loss, at least ln 10\): diverging; {KEPT}", _one_line(capsys))
    assert not (tmp_path / "ckpt" / "t" / "latest.pt").exists()


def test_a_weight_beyond_the_bound_stops_the_run(tiny, tmp_path, capsys, monkeypatch):
    """The bound lowered below Xavier's own first-layer weights: the first sync point stops."""
    monkeypatch.setattr(errors, "WEIGHT_BOUND", 0.01)
    assert train.main(run_args(tiny, tmp_path, "--epochs", "3")) == 1
    assert re.fullmatch(rf"mnist_cnn: a weight is [0-9.]+ after step 20, beyond the bound 0.01: diverging; {KEPT}",
                        _one_line(capsys))
    assert not (tmp_path / "ckpt" / "t" / "latest.pt").exists()  # nothing diverged is ever saved


def test_the_divergence_rule():
    assert errors.divergence(21, 40, 26.0, 2.5, 0.5).startswith("training loss is 26 over steps 21-40, more than 10")
    assert errors.divergence(21, 40, 24.0, 2.5, 0.5) is None
    assert errors.divergence(21, 40, 23.1, 0.05, 0.5)  # at least ln 10 = 2.303 times 10
    assert errors.divergence(21, 40, 22.9, 0.05, 0.5) is None  # a small first loss does not lower the bar
    assert errors.divergence(1, 20, 1e6, None, 0.5) is None  # the first window is the reference
    assert errors.divergence(1, 20, 2.3, None, 4e22).startswith("a weight is 4e+22 after step 20, beyond the bound")
    assert errors.divergence(1, 20, 2.3, None, float("nan")).startswith("a weight is nan after step 20")


# --- 1: a stopped sweep ---------------------------------------------------------------------------------

@pytest.fixture
def ctrl_c_raises():
    """SIGINT handled as in a terminal (KeyboardInterrupt), whatever this test process inherited:
    started as a background job (`cmd &` in a script, as CI may start it), Python leaves SIGINT
    ignored, and a Ctrl-C before a run installs its own handlers would pass unseen."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _signal_at_first_sync(monkeypatch, times: int = 1):
    """SIGINT to this process at the first sync point (as a Ctrl-C there would)."""
    real, sent = train.sync, [False]

    def sync(*args, **kwargs):
        if not sent[0]:
            sent[0] = True
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)
    monkeypatch.setattr(train, "sync", sync)


def _sweep_args(tiny, tmp_path):
    return ["--opt", "adam", "--act", "relu", "tanh", "--init", "xavier", "--steps", "8", "--data-dir", tiny,
            "--logdir", str(tmp_path / "runs"), "--checkpoint-dir", str(tmp_path / "ckpt")]


def test_a_sweep_stopped_by_ctrl_c_stops_and_says_so(tiny, tmp_path, capsys, monkeypatch):
    """Run 1 checkpoints at the stop and is marked 'stopped' in the table; run 2 never starts;
    exit 130."""
    _signal_at_first_sync(monkeypatch)
    assert sweep.main(_sweep_args(tiny, tmp_path)) == sweep.EXIT_STOPPED
    captured = capsys.readouterr()
    rows = [line.split() for line in captured.out.splitlines() if line.startswith("adam")]
    # an 8-step run evaluates its test subset after every step (mnist_cnn.train.is_eval_step), so
    # the first sync point, where the signal is read, is step 1
    assert rows == [["adam", "relu", "xavier", "0", "stopped", "at", "step", "1/8"]]
    (folder,) = (tmp_path / "ckpt").iterdir()
    assert folder.name.endswith("-adam-relu-xavier-s0") and _step(folder) == 1
    lines = [line for line in captured.err.replace("\r", "\n").splitlines()
             if line.strip() and not PROGRESS_BAR.search(line) and not SIGNAL_NOTICE.match(line)]
    assert lines == [f"mnist_cnn.sweep: stopped by a signal during {folder.name}; its checkpoint: --resume "
                     f"{folder} with mnist-cnn-train; 1 of 2 runs not started"]


def test_a_sweep_interrupted_while_loading_data_stops(tiny, tmp_path, capsys, monkeypatch, ctrl_c_raises):
    monkeypatch.setattr(run_state, "load_mnist", lambda *a, **k: signal.raise_signal(signal.SIGINT))
    assert sweep.main(_sweep_args(tiny, tmp_path)) == sweep.EXIT_STOPPED
    assert _one_line(capsys) == (f"mnist_cnn.sweep: {errors.NOT_STARTED}; 1 of 2 runs not started")


def test_a_sweep_interrupted_between_two_runs_stops(tiny, tmp_path, capsys, monkeypatch, ctrl_c_raises):
    """A Ctrl-C after run 1 ended and before run 2 set up its handlers: the table, one line, 130."""
    real, made = sweep.Config, []

    def config(**kwargs):
        made.append(kwargs["run_name"])
        if len(made) == 2:
            signal.raise_signal(signal.SIGINT)
        return real(**kwargs)
    monkeypatch.setattr(sweep, "Config", config)
    assert sweep.main(_sweep_args(tiny, tmp_path)) == sweep.EXIT_STOPPED
    assert _one_line(capsys) == "mnist_cnn.sweep: interrupted between two runs; 1 of 2 runs not started"


# --- 1: interrupts that say what happened -----------------------------------------------------------

def test_one_ctrl_c_while_data_loads_says_nothing_was_written(tiny, tmp_path, capsys, monkeypatch, ctrl_c_raises):
    """Before the handlers are in, a Ctrl-C is Python's KeyboardInterrupt: not a 'second
    interrupt', and there is no checkpoint to keep."""
    monkeypatch.setattr(run_state, "load_mnist", lambda *a, **k: signal.raise_signal(signal.SIGINT))
    assert train.main(run_args(tiny, tmp_path, "--steps", "3")) == train.EXIT_ABORTED
    assert _one_line(capsys) == ("mnist_cnn: interrupted before training started (while loading the data or "
                                 "setting up): no step was taken and no checkpoint was written")
    assert not (tmp_path / "ckpt").exists()


def test_a_second_ctrl_c_before_the_first_checkpoint_says_nothing_was_saved(tiny, tmp_path, capsys, monkeypatch):
    _signal_at_first_sync(monkeypatch, times=2)
    assert train.main(run_args(tiny, tmp_path, "--steps", "30")) == train.EXIT_ABORTED
    assert _one_line(capsys) == ("mnist_cnn: aborted by a second interrupt at step 20, before the run's first "
                                 "checkpoint: nothing was saved")
    assert not (tmp_path / "ckpt" / "t" / "latest.pt").exists()


def test_a_second_ctrl_c_after_a_checkpoint_names_it(tiny, tmp_path, capsys, monkeypatch):
    assert train.main(run_args(tiny, tmp_path, "--steps", "3")) == 0
    capsys.readouterr()
    folder = tmp_path / "ckpt" / "t"
    _signal_at_first_sync(monkeypatch, times=2)
    assert train.main(["--resume", str(folder), "--steps", "30", "--data-dir", tiny]) == train.EXIT_ABORTED
    assert _one_line(capsys) == (f"mnist_cnn: aborted by a second interrupt at step 20; the last checkpoint "
                                 f"is kept: --resume {folder}")
    assert _step(folder) == 3


# --- 5: full disks -----------------------------------------------------------------------------------

class FullDisk:
    """A file whose writes fail with ENOSPC once `room` bytes are written, like a full disk."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data):
        n = memoryview(data).nbytes
        if n > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= n
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_a_full_disk_during_the_checkpoint_write_is_one_line(tiny, tmp_path, capsys, monkeypatch):
    """The second checkpoint's file fills the disk after 1 MB (before: torch's 'inline_container.cc
    ... unexpected pos' RuntimeError on top of the ENOSPC, two tracebacks). The line's --resume works."""
    real, opened = os.fdopen, [0]

    def fdopen(fd, mode="r", *args, **kwargs):
        f = real(fd, mode, *args, **kwargs)
        if mode == "wb":  # atomic_write's temporary file
            opened[0] += 1
            if opened[0] == 2:
                return FullDisk(f, 1 << 20)
        return f
    monkeypatch.setattr(os, "fdopen", fdopen)
    assert train.main(run_args(tiny, tmp_path, "--epochs", "2")) == 1
    folder = tmp_path / "ckpt" / "t"
    assert _one_line(capsys) == (f"mnist_cnn: could not write the checkpoint {folder / 'latest.pt'}: No space left "
                                 f"on device; the previous checkpoint is kept: free space, then --resume {folder}")
    assert checkpoint.resolve(str(folder)) == folder / "latest.pt" and _step(folder) == STEPS_PER_EPOCH
    assert [p.name for p in folder.iterdir()] == ["latest.pt"]


def _full_logs(monkeypatch, after: int = 0):
    from tensorboard.summary.writer.record_writer import RecordWriter
    real, calls = RecordWriter.write, [0]

    def write(self, data):
        calls[0] += 1
        if calls[0] > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)
    monkeypatch.setattr(RecordWriter, "write", write)


def test_a_full_logdir_names_a_resume_that_finds_the_checkpoint(tiny, tmp_path, capsys, monkeypatch):
    """Before: '(free space, then --resume it)' after naming the log folder, where no checkpoint is."""
    with_summaries = [a for a in run_args(tiny, tmp_path, "--steps", "3") if a != "--no-summaries"]
    assert train.main(with_summaries) == 0
    capsys.readouterr()
    folder = tmp_path / "ckpt" / "t"
    _full_logs(monkeypatch)
    assert train.main(["--resume", str(folder), "--steps", "6", "--summary-every", "2", "--data-dir", tiny]) == 1
    assert _one_line(capsys) == (f"mnist_cnn: could not write TensorBoard logs in {tmp_path / 'runs' / 't'}: No space "
                                 f"left on device; the previous checkpoint is kept: free space, then --resume {folder}")
    assert checkpoint.resolve(str(folder)) == folder / "latest.pt" and _step(folder) == 3


def test_a_full_logdir_before_any_checkpoint_says_to_start_again(tiny, tmp_path, capsys, monkeypatch):
    _full_logs(monkeypatch)
    args = [a for a in run_args(tiny, tmp_path, "--steps", "4", "--summary-every", "2") if a != "--no-summaries"]
    assert train.main(args) == 1
    assert _one_line(capsys) == (f"mnist_cnn: could not write TensorBoard logs in {tmp_path / 'runs' / 't'}: No space "
                                 f"left on device; no checkpoint was written yet: free space, then start the run again")


# --- 5: data that cannot be read ----------------------------------------------------------------------

def _unreadable(kind, root):
    raw = root / "MNIST" / "raw"
    if kind == "io-error":  # reading /proc/self/mem at offset 0 fails with EIO, for root too
        (raw / "train-images-idx3-ubyte").unlink()
        (raw / "train-images-idx3-ubyte").symlink_to("/proc/self/mem")
        return raw / "train-images-idx3-ubyte", "Input/output error"
    if kind == "data-dir-is-a-file":
        (root / "file").write_text("")
        return root / "file", None
    if os.geteuid() == 0:
        pytest.skip("root reads files and folders whatever their permissions (chmod 000 blocks nothing)")
    target = raw / "train-images-idx3-ubyte" if kind == "file-mode-000" else raw
    target.chmod(0)
    return target, "Permission denied; check its permissions and those of the folders above it"


@pytest.mark.parametrize("kind", ["io-error", "data-dir-is-a-file", "file-mode-000", "folder-mode-000"])
def test_data_that_cannot_be_read_is_one_line(tmp_path, capsys, kind):
    root = write_tiny_mnist(tmp_path / "data")
    where, why = _unreadable(kind, root)
    try:
        data_dir = str(where) if kind == "data-dir-is-a-file" else str(root)
        assert train.main(run_args(data_dir, tmp_path, "--steps", "1")) == 2
    finally:
        for p in (root / "MNIST" / "raw", *(root / "MNIST" / "raw").iterdir()):
            if not p.is_symlink():
                p.chmod(0o755)
    line = _one_line(capsys)
    if why is None:
        assert line == (f"mnist_cnn: MNIST: {where} is a file, not a folder; point --data-dir or $MNIST_DATA_DIR at "
                        f"a folder that has MNIST/raw/ inside")
    else:
        assert line == f"mnist_cnn: MNIST: cannot read {where}: {why}"

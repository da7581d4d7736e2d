"""Screenshots of a real TensorBoard page for the README: two short MNIST runs (Adam/ReLU and
SGD/tanh, 100 steps each), `tensorboard --logdir` on them, headless Chromium on the scalars and
images dashboards.

    python scripts/tensorboard_screenshot.py [--data-dir DIR] [--out docs] [--logdir runs]

Needs `chromium` on the PATH (Debian: apt-get install -y chromium)."""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

# The scalars and images dashboards. Not the time-series page: its line charts stay blank in
# headless Chromium here (WebGL), and its image cards shrink a 520 px figure to ~150 px.
PAGES = {"tensorboard_scalars.png": "#scalars", "tensorboard_images.png": "#images"}


def train_runs(data_dir: str, logdir: str, steps: int) -> None:
    from mnist_cnn import train
    for flags in (["--opt", "adam", "--act", "relu"], ["--opt", "sgd", "--act", "tanh", "--init", "tf"]):
        name = f"{flags[1]}-{flags[3]}"
        code = train.main(["--data-dir", data_dir, "--logdir", logdir, "--checkpoint-dir",
                           os.path.join(logdir, "..", "ckpt"), "--run-name", name, "--steps", str(steps),
                           "--summary-every", str(steps // 10), "--hist-every", str(steps // 2),
                           "--eval-every", str(steps // 2), *flags])
        if code:
            sys.exit(f"tensorboard_screenshot: training {name} failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(logdir: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--port", str(port),
                             "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    sys.exit("tensorboard_screenshot: tensorboard did not start")


def screenshot(url: str, path: str, width: int = 1600, height: int = 1500) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("tensorboard_screenshot: no chromium on the PATH")
    # software WebGL: the time-series charts draw with WebGL and stay blank without it
    subprocess.run([chromium, "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                    "--hide-scrollbars",
                    f"--window-size={width},{height}", "--virtual-time-budget=20000",
                    f"--screenshot={path}", url], check=True, capture_output=True, timeout=180)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"),
                   help="folder with MNIST/raw (default: $MNIST_DATA_DIR or ./data)")
    p.add_argument("--out", default="docs", help="folder for the PNG files (default: docs)")
    p.add_argument("--steps", type=int, default=100, help="steps of each training run (default: 100)")
    p.add_argument("--logdir", help="screenshot these runs instead of training two")
    args = p.parse_args()
    logdir = args.logdir
    if not logdir:
        logdir = os.path.join(tempfile.mkdtemp(prefix="tb-shot-"), "runs")
        train_runs(args.data_dir, logdir, args.steps)
    port = free_port()
    proc = serve(logdir, port)
    try:
        os.makedirs(args.out, exist_ok=True)
        for name, fragment in PAGES.items():
            path = os.path.abspath(os.path.join(args.out, name))
            screenshot(f"http://127.0.0.1:{port}/?darkMode=false{fragment}", path)
            print(f"wrote {path}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()

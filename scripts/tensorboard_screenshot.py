"""Screenshots of a real TensorBoard page for the docs: two MNIST trainer runs (Adam/ReLU and
SGD/ReLU, 200 steps each at the default evaluation cadence), a `crosscheck study moons` and a
`crosscheck train` run in one logdir, `tensorboard --logdir` on it, headless Chromium on the
default Time Series page, the custom Scalars layout, HParams and images.

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

# The default page (Time Series; drawn with TensorBoard's forceSVG flag: its WebGL charts stay blank
# in headless Chromium), the Scalars dashboard, the custom-scalars layout, HParams and the images
# dashboard (full-size figures).
PAGES = {"tensorboard_timeseries.png": "#timeseries", "tensorboard_scalars.png": "#scalars",
         "tensorboard_custom_scalars.png": "#custom_scalars", "tensorboard_hparams.png": "#hparams",
         "tensorboard_images.png": "#images"}


def train_runs(data_dir: str, logdir: str, steps: int) -> None:
    """The trainer twice, a study and a side-by-side run, in one logdir (as a user's runs/ is)."""
    from crosscheck import cli
    from mnist_cnn import train
    for opt in ("adam", "sgd"):
        name = f"{opt}-relu"
        code = train.main(["--data-dir", data_dir, "--logdir", logdir, "--checkpoint-dir",
                           os.path.join(logdir, "..", "ckpt"), "--run-name", name, "--steps", str(steps),
                           "--summary-every", str(steps // 10), "--hist-every", str(steps // 2), "--opt", opt])
        if code:
            sys.exit(f"tensorboard_screenshot: training {name} failed")
    for argv in (["study", "moons", "--logdir", logdir, "--plots", os.path.join(logdir, "..", "plots")],
                 ["train", "--model", "A", "--act", "tanh", "--logdir", logdir]):
        if cli.main(argv):
            sys.exit(f"tensorboard_screenshot: crosscheck {' '.join(argv)} failed")


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
    p.add_argument("--steps", type=int, default=200, help="steps of each trainer run (default: 200)")
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
            # forceSvg: TensorBoard's SVG line charts (its WebGL ones stay blank in headless Chromium)
            screenshot(f"http://127.0.0.1:{port}/?darkMode=false&forceSVG=true{fragment}", path)
            print(f"wrote {path}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()

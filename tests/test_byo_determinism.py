"""The same inputs give the identical report on an idle and on a loaded machine: byo.check is
run twice, the second time while busy threads burn the CPU (and hold the interpreter half the
time, so the check itself runs several times slower), and the full report texts (every row,
number and note) are compared. No timing is asserted."""
import threading

import numpy as np

from crosscheck import byo

from test_byo_objects import _priv_cnn


def _burn(stop) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 1103515245 + 12345) % 2 ** 31


def _report(slip: dict) -> str:
    rng = np.random.default_rng(3)
    x, labels = rng.normal(size=(3, 6, 6, 2)), np.array([0, 2, 1])
    return str(byo.check(byo.cnn(_priv_cnn(rng, **slip), x, labels, layout="nhwc")))


def test_identical_reports_idle_and_loaded():
    slips = ({}, {"every": True})  # a clean CNN and a planted max-pool bug
    idle = [_report(s) for s in slips]
    stop = threading.Event()
    burners = [threading.Thread(target=_burn, args=(stop,), daemon=True) for _ in range(2)]
    for t in burners:
        t.start()
    try:
        loaded = [_report(s) for s in slips]
    finally:
        stop.set()
        for t in burners:
            t.join()
    assert loaded == idle
    assert "PASS" in idle[0] and "every element of its window" in idle[1]

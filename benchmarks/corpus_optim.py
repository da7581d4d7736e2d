"""Detection corpus for update rules: clean rules must pass; each planted optimizer bug must
FAIL at the first step where it has an effect, with its slip named.

    python benchmarks/corpus_optim.py        (prints the table; exit 1 if any row is wrong)"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from crosscheck.check.user_code import UserCodeError
from crosscheck.train.byo_optim import check_rule, functional_rule, layer_rule, optimizer_rule
from numpy_impl import OptimSpec
from numpy_impl import optim as npopt

START = {"0.weight": np.random.default_rng(1).normal(size=(5, 3)), "0.bias": np.zeros(5),
         "1.weight": np.random.default_rng(2).normal(size=(2, 5))}


# --- planted bugs: subclasses of numpy_impl's optimizers and schedules --------------------

class AdamNoBiasCorrection(npopt.Adam):
    def _update(self, key, p, g):
        b1, b2 = self.betas
        st = self.state[key]
        st.setdefault("m", np.zeros_like(p)); st.setdefault("v", np.zeros_like(p))
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["v"] = b2 * st["v"] + (1 - b2) * g * g
        p -= self.lr * st["m"] / (np.sqrt(st["v"]) + self.eps)


class AdamHand(npopt.Adam):
    """Adam written out by hand, with switches for the slips planted below."""
    eps_in_sqrt = swap = decoupled = wd_sign_flip = sqrt_bc2_missing = False

    def _update(self, key, p, g):
        b1, b2 = self.betas[::-1] if self.swap else self.betas
        wd = -self.weight_decay if self.wd_sign_flip else self.weight_decay
        if self.decoupled:
            p *= 1 - self.lr * wd
        elif wd:
            g = g + wd * p
        st = self.state[key]
        t = st["t"] = st.get("t", 0) + 1
        st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
        st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
        bc2 = 1 - b2 ** t
        v_hat = st["v"] / bc2
        denom = np.sqrt(v_hat + self.eps) if self.eps_in_sqrt else (
            st["v"] / bc2 if self.sqrt_bc2_missing else np.sqrt(v_hat)) + (0 if self.eps_in_sqrt else self.eps)
        p -= self.lr * st["m"] / (1 - b1 ** t) / denom


def hand(**flags):
    return type("AdamSlip", (AdamHand,), flags)


class SGDHand(npopt.SGD):
    """Momentum SGD by hand, with planted slips."""
    ema = zero_start = ignore_damp = wd_flip = nesterov_flip = forget_wd = uphill = False

    def _update(self, key, p, g):
        wd = 0.0 if self.forget_wd else (-1 if self.wd_flip else 1) * self.weight_decay
        g = g + wd * p
        st = self.state[key]
        damp = self.momentum if self.ema else (0.0 if self.ignore_damp else self.dampening)
        if "buf" not in st:
            st["buf"] = (1 - damp) * g if self.zero_start else g.copy()
        else:
            st["buf"] = self.momentum * st["buf"] + (1 - damp) * g
        nesterov = self.nesterov != self.nesterov_flip
        step = g + self.momentum * st["buf"] if nesterov else st["buf"]
        p += self.lr * step if self.uphill else -self.lr * step


def sgd_hand(**flags):
    return type("SGDSlip", (SGDHand,), flags)


class EarlyLR(npopt.ExponentialLR):
    """Decays before the first step: every step uses the next step's lr."""
    def __init__(self, optimizer, gamma):
        super().__init__(optimizer, gamma)
        self.optimizer.lr *= gamma


class LateLR(npopt.ExponentialLR):
    """Skips its first call: every step after the first uses the previous step's lr."""
    def step(self):
        self.last_epoch += 1
        if self.last_epoch > 1:
            self.optimizer.lr *= self.gamma


def with_sched(opt_make, sched_cls, gamma):
    def make(p):
        opt = opt_make(p)
        return opt, sched_cls(opt, gamma)
    return make


# --- layer and functional styles (as in examples/) ------------------------------------------

class Layer:
    def __init__(self, w, b, planted=""):
        self.W, self.b, self.planted, self.vW, self.vb = w.copy(), b.copy(), planted, 0.0, 0.0

    def step(self, step_size):
        self.vW = 0.9 * self.vW + self.dW
        self.vb = 0.9 * self.vb + (0.0 if self.planted == "bias_frozen" else self.db)
        self.W -= step_size * self.vW
        self.b -= step_size * self.vb * (-1 if self.planted == "uphill_bias" else 1)


def layers(planted=""):
    rng = np.random.default_rng(3)
    return layer_rule([Layer(rng.normal(size=(3, 4)), np.zeros(4), planted),
                       Layer(rng.normal(size=(4, 1)), np.zeros(1), planted)])


def sgd_update(params, grads, lr):
    return [tuple(p - lr * g for p, g in zip(group, gg)) for group, gg in zip(params, grads)]


def sgd_update_sum_of_squares(params, grads, lr):  # planted: lr applied twice to the bias
    return [(w - lr * gw, b - lr * lr * gb) for (w, b), (gw, gb) in zip(params, grads)]


def functional(update):
    rng = np.random.default_rng(4)
    return functional_rule(update, [(rng.normal(size=(3, 4)), np.zeros(4))])


ADAM, SGD = OptimSpec("adam", 0.01), OptimSpec("sgd", 0.05)
ADAM_WD, ADAMW = OptimSpec("adam", 0.01, weight_decay=0.1), OptimSpec("adamw", 0.01, weight_decay=0.1)
MOM, MOM_WD = OptimSpec("sgd", 0.05, momentum=0.9), OptimSpec("sgd", 0.05, momentum=0.9, weight_decay=0.1)
MOM_DAMP, NEST = OptimSpec("sgd", 0.05, momentum=0.9, dampening=0.5), OptimSpec("sgd", 0.05, momentum=0.9, nesterov=True)
DECAY = OptimSpec("sgd", 0.05, momentum=0.9, decay=0.9)


def opt(cfg, make):
    return lambda: optimizer_rule(make, START)


def sgd_of(cfg, cls=npopt.SGD):
    return lambda p: cls(p, cfg.lr, momentum=cfg.momentum, dampening=cfg.dampening, nesterov=cfg.nesterov,
                         weight_decay=cfg.weight_decay)


def adam_of(cfg, cls=npopt.Adam, wd=None):
    return lambda p: cls(p, cfg.lr, betas=cfg.betas, eps=cfg.eps,
                         weight_decay=cfg.weight_decay if wd is None else wd)


# (name, config, adapted-rule factory, first step with an effect or None for clean, slip words)
CASES = [
    ("clean numpy SGD", SGD, opt(SGD, sgd_of(SGD)), None, ""),
    ("clean numpy SGD momentum+wd", MOM_WD, opt(MOM_WD, sgd_of(MOM_WD)), None, ""),
    ("clean numpy SGD nesterov", NEST, opt(NEST, sgd_of(NEST)), None, ""),
    ("clean numpy SGD dampening", MOM_DAMP, opt(MOM_DAMP, sgd_of(MOM_DAMP)), None, ""),
    ("clean numpy SGD + ExponentialLR", DECAY, opt(DECAY, with_sched(sgd_of(DECAY), npopt.ExponentialLR, 0.9)), None, ""),
    ("clean numpy Adam L2", ADAM_WD, opt(ADAM_WD, adam_of(ADAM_WD)), None, ""),
    ("clean hand Adam", ADAM, opt(ADAM, adam_of(ADAM, hand())), None, ""),
    ("clean hand SGD momentum", MOM_WD, opt(MOM_WD, sgd_of(MOM_WD, sgd_hand())), None, ""),
    ("clean layer step(lr) momentum", MOM, layers, None, ""),
    ("clean functional update", SGD, lambda: functional(sgd_update), None, ""),
    ("Adam without bias correction", ADAM, opt(ADAM, adam_of(ADAM, AdamNoBiasCorrection)), 1, "bias correction"),
    ("Adam eps inside sqrt", ADAM, opt(ADAM, adam_of(ADAM, hand(eps_in_sqrt=True))), 1, "eps inside"),
    ("Adam betas swapped", ADAM, opt(ADAM, adam_of(ADAM, hand(swap=True))), 2, "swapped"),
    ("AdamW-style decay where Adam asked", ADAM_WD, opt(ADAM_WD, adam_of(ADAM_WD, hand(decoupled=True))), 1, "decoupled weight decay (AdamW) where"),
    ("Adam L2 decay where AdamW asked", ADAMW, opt(ADAMW, adam_of(ADAMW)), 1, "L2 weight decay (Adam) where"),
    ("Adam weight decay sign", ADAM_WD, opt(ADAM_WD, adam_of(ADAM_WD, hand(wd_sign_flip=True))), 1, "wrong sign"),
    ("Adam v_hat not square-rooted", ADAM, opt(ADAM, adam_of(ADAM, hand(sqrt_bc2_missing=True))), 1, ""),
    # the buffer starts at g as torch's does, so dampening first shows at step 2
    ("SGD momentum as EMA (dampened)", MOM, opt(MOM, sgd_of(MOM, sgd_hand(ema=True))), 2, "dampened"),
    ("SGD buffer starts at zero", MOM_DAMP, opt(MOM_DAMP, sgd_of(MOM_DAMP, sgd_hand(zero_start=True))), 1, "starts at zero"),
    ("SGD dampening ignored", MOM_DAMP, opt(MOM_DAMP, sgd_of(MOM_DAMP, sgd_hand(ignore_damp=True))), 2, "dampening ignored"),
    ("SGD nesterov missing", NEST, opt(NEST, sgd_of(NEST, sgd_hand(nesterov_flip=True))), 1, "nesterov missing"),
    ("SGD nesterov where plain asked", MOM, opt(MOM, sgd_of(MOM, sgd_hand(nesterov_flip=True))), 1, "nesterov applied"),
    ("SGD weight decay sign", MOM_WD, opt(MOM_WD, sgd_of(MOM_WD, sgd_hand(wd_flip=True))), 1, "wrong sign"),
    ("SGD weight decay forgotten", MOM_WD, opt(MOM_WD, sgd_of(MOM_WD, sgd_hand(forget_wd=True))), 1, "forgotten"),
    ("SGD uphill", SGD, opt(SGD, sgd_of(SGD, sgd_hand(uphill=True))), 1, "uphill"),
    ("schedule one step early", DECAY, opt(DECAY, with_sched(sgd_of(DECAY), EarlyLR, 0.9)), 1, "one step early"),
    ("schedule one step late", DECAY, opt(DECAY, with_sched(sgd_of(DECAY), LateLR, 0.9)), 2, "one step late"),
    ("layer step: bias frozen", MOM, lambda: layers("bias_frozen"), 1, ""),
    ("layer step: bias uphill", MOM, lambda: layers("uphill_bias"), 1, ""),
    ("functional: lr squared on bias", SGD, lambda: functional(sgd_update_sum_of_squares), 1, ""),
]


def run_case(cfg, factory, steps=10):
    """(first failing step or None, slip named, crash message)."""
    try:
        r = check_rule(cfg, factory(), steps)
    except (UserCodeError, ValueError) as err:
        return None, "", str(err)
    return r.first_failure, r.slip, ""


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.versions import versions_line
    print(versions_line())
    print(f"{'case':40s} {'expect':>6s} {'failed at':>9s}  {'slip named':50s} result")
    tally = dict(clean=0, clean_ok=0, bugs=0, detected=0, step_ok=0, namable=0, named=0, crashes=0)
    for name, cfg, factory, step, words in CASES:
        got, slip, crash = run_case(cfg, factory)
        tally["crashes"] += bool(crash)
        if step is None:
            tally["clean"] += 1
            ok = got is None and not crash
            tally["clean_ok"] += ok
        else:
            tally["bugs"] += 1
            tally["detected"] += got is not None
            tally["step_ok"] += got == step
            if words:
                tally["namable"] += 1
                tally["named"] += bool(slip) and words in slip
            ok = got == step and (not words or words in slip) and (words or not slip)
        shown = crash or slip or "-"
        print(f"{name:40s} {str(step or 'pass'):>6s} {str(got or 'pass'):>9s}  {shown[:50]:50s} "
              f"{'ok' if ok else 'WRONG'}")
    t = tally
    print(f"\nclean rules passing {t['clean_ok']}/{t['clean']}; bugs detected {t['detected']}/{t['bugs']}; "
          f"first failing step right {t['step_ok']}/{t['bugs']}; slip named right {t['named']}/{t['namable']} "
          f"of the bugs with a known slip ({t['named']}/{t['bugs']} of all bugs); crashes {t['crashes']}")
    good = (t["clean_ok"] == t["clean"] and t["detected"] == t["step_ok"] == t["bugs"]
            and t["named"] >= 0.8 * t["bugs"] and not t["crashes"])
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())

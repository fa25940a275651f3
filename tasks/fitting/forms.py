"""Scaling-law forms in log parametrisation: log-loss values, analytic Jacobians, inversions.

Every form predicts ln L from features X (rows: ln N, ln D for surfaces; ln D for per-N curves)
and a parameter vector `theta` in which positive constants appear as logarithms, so an unbounded
optimiser can move them over many decades (Hoffmann et al. 2022, App. D.2).  Each form also knows
its starting grid, its bounds, and how to invert itself for the data D that reaches a given loss,
which is what effective data transferred needs (paper.md §1.5).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

# The 99 % rule (paper.md §1.1): D(N) solves L(N, inf) = 0.99 * L(N, D(N)).
RULE_99 = 0.99


def _grid(*axes: list[float]) -> np.ndarray:
    """Cartesian product of axes, one start per row."""
    return np.array(list(itertools.product(*axes)), dtype=float)


def _safe_pow(x, exponent):
    """x^exponent in numpy floats: a wild curve (p near 0, met in a bootstrap resample) gives inf
    rather than Python's OverflowError, and its points come out unreachable."""
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float64) ** exponent


def _softmax_lse(*terms: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """log(sum(exp(t))) and the softmax weights, computed stably (few numpy calls: it is hot)."""
    m = terms[0]
    for t in terms[1:]:
        m = np.maximum(m, t)
    ex = [np.exp(t - m) for t in terms]
    tot = ex[0]
    for x in ex[1:]:
        tot = tot + x
    inv = 1.0 / tot
    return m + np.log(tot), [x * inv for x in ex]


@dataclass(frozen=True)
class Form:
    """Base class: a named law with parameters `names` (internal) and a start grid."""

    name: str = ""
    names: tuple[str, ...] = ()
    # Bounds for L-BFGS-B, one (low, high) per internal parameter; None = unbounded.
    bounds: tuple[tuple[float | None, float | None], ...] = field(default=())

    def log_loss_jac(self, theta: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ln L(X; theta) and its Jacobian d lnL / d theta, shape (n_params, n_points)."""
        raise NotImplementedError

    def log_loss(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        return self.log_loss_jac(theta, X)[0]

    def grid(self) -> np.ndarray:
        raise NotImplementedError

    def natural(self, theta: np.ndarray) -> dict[str, float]:
        """Parameters as a reader knows them (A, not ln A)."""
        raise NotImplementedError

    def from_natural(self, params: dict[str, float]) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Chinchilla(Form):
    """L = E + A/N^alpha + B/D^beta, as ln L = LSE(a - alpha ln N, b - beta ln D, e)."""

    name: str = "chinchilla"
    names: tuple[str, ...] = ("a", "b", "e", "alpha", "beta")
    bounds: tuple = ((None, None), (None, None), (None, None), (0.0, None), (0.0, None))

    def log_loss_jac(self, theta, X):
        a, b, e, al, be = theta
        ln_n, ln_d = X
        t1, t2, t3 = a - al * ln_n, b - be * ln_d, e
        val, (w1, w2, w3) = _softmax_lse(t1, t2, t3)
        jac = np.vstack([w1, w2, w3, -w1 * ln_n, -w2 * ln_d])
        return val, jac

    def grid(self):
        # Hoffmann et al. 2022 App. D.2: the full 4,500-start grid.
        return _grid(np.arange(0, 30, 5.0), np.arange(0, 30, 5.0), np.arange(-1, 1.5, 0.5),
                     np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5))

    def natural(self, theta):
        a, b, e, al, be = (float(t) for t in theta)
        return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)),
                "alpha": al, "beta": be}

    def from_natural(self, p):
        return np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])

    @staticmethod
    def floor(p: dict, n: np.ndarray) -> np.ndarray:
        """L(N, D -> inf)."""
        return p["E"] + p["A"] / np.asarray(n, float) ** p["alpha"]

    @classmethod
    def loss(cls, p: dict, n, d) -> np.ndarray:
        return cls.floor(p, n) + p["B"] / np.asarray(d, float) ** p["beta"]

    @classmethod
    def invert(cls, p: dict, n, loss) -> np.ndarray:
        """D at which L(N, D) = loss; inf when loss is at or below the N-limited floor."""
        gap = np.asarray(loss, float) - cls.floor(p, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (p["B"] / gap) ** (1.0 / p["beta"])
        return np.where(gap > 0, d, np.inf)

    @classmethod
    def d_99(cls, p: dict, n) -> np.ndarray:
        """D(N) of the 99 % rule: B/D^beta = floor * (1/0.99 - 1)."""
        return (p["B"] / (cls.floor(p, n) * (1 / RULE_99 - 1))) ** (1.0 / p["beta"])


@dataclass(frozen=True)
class Kaplan(Form):
    """L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (Kaplan et al. 2020, Eq. 1.5).

    ln L = alpha_D * LSE(u, v) with u = (alpha_N/alpha_D)(ln N_c - ln N), v = ln D_c - ln D.
    """

    name: str = "kaplan"
    names: tuple[str, ...] = ("ln_N_c", "ln_D_c", "alpha_N", "alpha_D")
    bounds: tuple = ((None, None), (None, None), (1e-4, 10.0), (1e-4, 10.0))

    def log_loss_jac(self, theta, X):
        lnc, ldc, an, ad = theta
        ln_n, ln_d = X
        u = (an / ad) * (lnc - ln_n)
        v = ldc - ln_d
        s, (wu, wv) = _softmax_lse(u, v)
        jac = np.vstack([an * wu, ad * wv, wu * (lnc - ln_n), s - wu * u])
        return ad * s, jac

    def grid(self):
        # The Kaplan analogue of the Chinchilla grid: exponents over a factor 16, the scale
        # constants over 35 e-folds (Kaplan's own N_c, D_c are ~e^31).
        ex = [0.025, 0.05, 0.1, 0.2, 0.4]
        return _grid(np.arange(5, 45, 5.0), np.arange(5, 45, 5.0), ex, ex)

    def natural(self, theta):
        lnc, ldc, an, ad = (float(t) for t in theta)
        return {"alpha_N": an, "alpha_D": ad, "N_c": float(np.exp(lnc)), "D_c": float(np.exp(ldc))}

    def from_natural(self, p):
        return np.array([np.log(p["N_c"]), np.log(p["D_c"]), p["alpha_N"], p["alpha_D"]])

    @staticmethod
    def _x(p: dict, n) -> np.ndarray:
        return (p["N_c"] / np.asarray(n, float)) ** (p["alpha_N"] / p["alpha_D"])

    @classmethod
    def floor(cls, p: dict, n) -> np.ndarray:
        return (p["N_c"] / np.asarray(n, float)) ** p["alpha_N"]

    @classmethod
    def loss(cls, p: dict, n, d) -> np.ndarray:
        return (cls._x(p, n) + p["D_c"] / np.asarray(d, float)) ** p["alpha_D"]

    @classmethod
    def invert(cls, p: dict, n, loss) -> np.ndarray:
        """D_E = D_c / (L^(1/alpha_D) - (N_c/N)^(alpha_N/alpha_D)) (paper.md §1.5)."""
        gap = np.asarray(loss, float) ** (1.0 / p["alpha_D"]) - cls._x(p, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = p["D_c"] / gap
        return np.where(gap > 0, d, np.inf)

    @classmethod
    def d_99(cls, p: dict, n) -> np.ndarray:
        return p["D_c"] / (cls._x(p, n) * (RULE_99 ** (-1.0 / p["alpha_D"]) - 1.0))


@dataclass(frozen=True)
class KaplanCurve(Form):
    """Per-N curve of Kaplan shape: L(D) = [L_f^(1/p) + d/D]^p, monotone and smooth in log-log.

    It is the Kaplan surface at one N with the N-term (the floor L_f) and the exponent freed, so
    a per-N inversion needs no assumption about how sizes relate (paper.md §1.5, method 1).
    """

    name: str = "kaplan_curve"
    names: tuple[str, ...] = ("ln_L_f", "ln_d", "p")
    bounds: tuple = ((None, None), (None, None), (1e-4, 10.0))

    def log_loss_jac(self, theta, X):
        lf, ld, p = theta
        ln_d = X[-1]
        u = np.full_like(ln_d, lf / p)
        v = ld - ln_d
        s, (wu, wv) = _softmax_lse(u, v)
        return p * s, np.vstack([wu, p * wv, s - wu * u])

    def grid(self):
        return _grid(np.arange(-2, 2.5, 1.0), np.arange(0, 50, 5.0), [0.025, 0.05, 0.1, 0.2, 0.4, 0.8])

    def natural(self, theta):
        lf, ld, p = (float(t) for t in theta)
        return {"L_f": float(np.exp(lf)), "d": float(np.exp(ld)), "p": p}

    def from_natural(self, q):
        return np.array([np.log(q["L_f"]), np.log(q["d"]), q["p"]])

    @staticmethod
    def _root(x, q: dict):
        """x^(1/p), overflow-safe (`_safe_pow`)."""
        return _safe_pow(x, 1 / q["p"])

    @classmethod
    def loss(cls, q: dict, d) -> np.ndarray:
        return (cls._root(q["L_f"], q) + q["d"] / np.asarray(d, float)) ** q["p"]

    @classmethod
    def invert(cls, q: dict, loss) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = cls._root(loss, q) - cls._root(q["L_f"], q)
            d = q["d"] / gap
        return np.where(gap > 0, d, np.inf)

    @staticmethod
    def floor(q: dict) -> float:
        return q["L_f"]

    @classmethod
    def d_99(cls, q: dict) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(q["d"] / (cls._root(q["L_f"] / RULE_99, q) - cls._root(q["L_f"], q)))


@dataclass(frozen=True)
class ChinchillaCurve(Form):
    """Per-N curve of Chinchilla shape: L(D) = E_N + B/D^beta (the N-term folded into E_N)."""

    name: str = "chinchilla_curve"
    names: tuple[str, ...] = ("b", "e", "beta")
    bounds: tuple = ((None, None), (None, None), (0.0, None))

    def log_loss_jac(self, theta, X):
        b, e, be = theta
        ln_d = X[-1]
        val, (w1, w2) = _softmax_lse(b - be * ln_d, e)
        return val, np.vstack([w1, w2, -w1 * ln_d])

    def grid(self):
        return _grid(np.arange(0, 30, 5.0), np.arange(-1, 1.5, 0.5), np.arange(0, 2.5, 0.5))

    def natural(self, theta):
        b, e, be = (float(t) for t in theta)
        return {"E_N": float(np.exp(e)), "B": float(np.exp(b)), "beta": be}

    def from_natural(self, q):
        return np.array([np.log(q["B"]), np.log(q["E_N"]), q["beta"]])

    @staticmethod
    def loss(q: dict, d) -> np.ndarray:
        return q["E_N"] + q["B"] / np.asarray(d, float) ** q["beta"]

    @staticmethod
    def invert(q: dict, loss) -> np.ndarray:
        gap = np.asarray(loss, float) - q["E_N"]
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (q["B"] / gap) ** (1 / q["beta"])
        return np.where(gap > 0, d, np.inf)

    @staticmethod
    def floor(q: dict) -> float:
        return q["E_N"]

    @staticmethod
    def d_99(q: dict) -> float:
        return (q["B"] / (q["E_N"] * (1 / RULE_99 - 1))) ** (1 / q["beta"])


SURFACES: dict[str, Form] = {"chinchilla": Chinchilla(), "kaplan": Kaplan()}
# The per-N curve that matches each surface form.
CURVES: dict[str, Form] = {"chinchilla": ChinchillaCurve(), "kaplan": KaplanCurve()}


def features(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The X matrix the surfaces take: rows ln N and ln D."""
    return np.vstack([np.log(np.asarray(n, float)), np.log(np.asarray(d, float))])

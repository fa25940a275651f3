"""Variable-projection cross-check of the Chinchilla fit (Czech et al. 2026, paper.md §4.4).

For fixed (alpha, beta) the model E + A N^-alpha + B D^-beta is linear in (E, A, B) >= 0, so they
are solved exactly by non-negative least squares on relative residuals (rows divided by L, which
approximates the log-space residual); only the 2-D (alpha, beta) search remains, done on a dense
grid and refined by Nelder-Mead.  This minimises a least-squares objective, not the Huber one, so
its parameters differ somewhat; its use is (1) a second, grid-independent estimate and (2) a start
from which the Huber fit is polished to check that the main grid found the best basin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, nnls


@dataclass
class VarProResult:
    """(E, A, B, alpha, beta) minimising the relative least squares, and that objective."""

    params: dict[str, float]
    sse: float  # sum of squared relative residuals at the optimum
    n_grid: int  # (alpha, beta) grid points evaluated


def _inner(ab: np.ndarray, n: np.ndarray, d: np.ndarray, loss: np.ndarray):
    al, be = ab
    M = np.column_stack([np.ones_like(n), n ** -al, d ** -be]) / loss[:, None]
    coef, rnorm = nnls(M, np.ones_like(loss))
    return coef, rnorm ** 2


def fit_varpro(n: np.ndarray, d: np.ndarray, loss: np.ndarray,
               alphas: np.ndarray = np.arange(0.02, 1.5, 0.02),
               betas: np.ndarray = np.arange(0.02, 1.5, 0.02)) -> VarProResult:
    """Dense (alpha, beta) grid with NNLS for (E, A, B), then a Nelder-Mead refinement."""
    n, d, loss = (np.asarray(a, float) for a in (n, d, loss))
    best = (np.inf, None)
    for al in alphas:
        for be in betas:
            _, sse = _inner(np.array([al, be]), n, d, loss)
            if sse < best[0]:
                best = (sse, np.array([al, be]))
    res = minimize(lambda ab: _inner(ab, n, d, loss)[1] if np.all(ab > 0) else np.inf, best[1],
                   method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
    ab = res.x if res.fun <= best[0] else best[1]
    (E, A, B), sse = _inner(ab, n, d, loss)
    return VarProResult({"E": float(E), "A": float(A), "B": float(B), "alpha": float(ab[0]),
                         "beta": float(ab[1])}, float(sse), len(alphas) * len(betas))

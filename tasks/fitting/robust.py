"""Robust fit of a form: summed Huber loss on log residuals, L-BFGS-B from a grid of starts.

Why each choice (paper.md §4.5): log space and Huber(delta=1e-3) make the fit insensitive to a few
bad runs; the loss is *summed*, then divided by delta so that its gradient is O(1) per point; with
the scipy default tolerances the tiny summed Huber objective stops the optimiser at once (the
Chinchilla pitfall, §4.5 item 9), hence ftol/gtol of 1e-15/1e-10 and a gradient-norm check at the
optimum.  A single start can end in a local minimum, hence a grid of starts, keeping the best
(screened by default: the full grid gives the same Chinchilla optimum at ~100x the cost).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import multiprocessing as mp
import os
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from .forms import Form
from .status import FitStatus

try:  # OpenBLAS threads make each tiny L-BFGS-B step ~20x slower on a busy machine
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl ships with the scientific stack
    ThreadpoolController = None


@functools.cache
def _blas():
    """This process's BLAS libraries, found once: `threadpool_limits()` scans /proc/self/maps at every
    call, ~2 ms, a quarter of a planner draw's fits (cProfile). A forked worker inherits the same
    libraries; a spawned one finds its own."""
    return ThreadpoolController().select(user_api="blas") if ThreadpoolController else None


@contextlib.contextmanager
def one_blas_thread():
    """BLAS on one thread inside (nothing to do where it already is, as in a bootstrap worker)."""
    blas = _blas()
    if blas is None or all(lib.num_threads == 1 for lib in blas.lib_controllers):
        yield
        return
    with blas.limit(limits=1):
        yield



class FitError(RuntimeError):
    """A fit that cannot be trusted; `reason` says why in words a user can act on."""

    def __init__(self, form: str, reason: str):
        self.form, self.reason = form, reason
        super().__init__(f"{form} fit failed: {reason}")


def usable_cores() -> int:
    """The cores this process may run on (its affinity: a container's or a Slurm job's share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


CORES = usable_cores()  # default worker processes of the grid of starts, the bootstrap, the planner


@dataclass(frozen=True)
class FitOptions:
    """How a robust fit is run; the defaults are the recommended procedure of paper.md §4.5."""

    delta: float = 1e-3  # Huber threshold on ln-loss residuals (Hoffmann et al. 2022)
    ftol: float = 1e-15  # L-BFGS-B relative objective tolerance (tight on purpose, §4.5 item 9)
    gtol: float = 1e-10  # L-BFGS-B projected-gradient tolerance
    maxiter: int = 20000  # L-BFGS-B iterations per start
    # Accept the optimum when max |projected gradient| <= grad_tol * max(1, objective), the
    # objective being the summed Huber loss divided by delta.
    grad_tol: float = 1e-4
    # "full": L-BFGS-B from every grid point (Hoffmann's 4,500 for Chinchilla: 319 s measured on
    # 2 busy cores); "screened": evaluate the objective at every grid point and run L-BFGS-B from
    # the n_screen best (same optimum on the Chinchilla data, checked by a slow test).
    grid_mode: str = "screened"
    n_screen: int = 64  # starts kept by the screen
    restarts: int = 2  # L-BFGS-B restarts from the best point while the gradient check fails
    n_jobs: int = CORES  # processes for the grid of starts and for the bootstrap
    mp_context: str = "forkserver"  # multiprocessing start method for the worker pool
    min_parallel_starts: int = 400  # below this many starts, run them in this process


@dataclass
class FitResult:
    """The best of all starts, with an explicit status and the evidence for it."""

    form: str  # the form's name
    theta: np.ndarray  # internal parameters (logs of positive constants)
    params: dict[str, float]  # natural parameters, unrounded
    objective: float  # summed Huber / delta at the optimum
    grad_norm: float  # max |projected gradient| at the optimum
    status: FitStatus  # OK, GRADIENT_NOT_SMALL or NO_START_CONVERGED
    message: str  # why the status is what it is
    n_starts: int  # starts tried
    n_points: int  # points fitted
    n_success: int = 0  # starts that scipy reported as converged
    top_thetas: list = field(default_factory=list)  # a few best distinct optima (for warm starts)

    @property
    def ok(self) -> bool:
        return self.status == FitStatus.OK

    def require_ok(self) -> "FitResult":
        if not self.ok:
            raise FitError(self.form, self.message)
        return self


def huber_objective(theta: np.ndarray, form: Form, X: np.ndarray, y: np.ndarray,
                    delta: float) -> tuple[float, np.ndarray]:
    """Sum of Huber_delta(ln L_hat - ln L) / delta, and its gradient."""
    pred, jac = form.log_loss_jac(theta, X)
    psi = (pred - y) / delta
    np.clip(psi, -1.0, 1.0, out=psi)
    # huber(delta, r) / delta = delta * (psi * r/delta - psi^2 / 2) with psi = clip(r/delta)
    r = (pred - y) / delta
    value = delta * float(np.dot(psi, r) - 0.5 * np.dot(psi, psi))
    return value, jac @ psi


def _projected_grad(theta: np.ndarray, grad: np.ndarray, bounds) -> np.ndarray:
    """Gradient with the components that push against an active bound zeroed."""
    g = grad.copy()
    for i, (lo, hi) in enumerate(bounds):
        if lo is not None and theta[i] <= lo + 1e-12 and g[i] > 0:
            g[i] = 0.0
        if hi is not None and theta[i] >= hi - 1e-12 and g[i] < 0:
            g[i] = 0.0
    return g


def _run_starts(form: Form, X: np.ndarray, y: np.ndarray, starts: np.ndarray,
                options: FitOptions) -> list[tuple[float, np.ndarray, bool]]:
    """L-BFGS-B from each start; (objective, theta, scipy success) per start."""
    out = []
    bounds = list(form.bounds)
    with one_blas_thread():
        for x0 in starts:
            _one_start(form, X, y, x0, bounds, options, out)
    return out


def _one_start(form, X, y, x0, bounds, options, out) -> None:
    """One L-BFGS-B run; appends (objective, theta, success) when the result is finite."""
    try:
        with np.errstate(all="ignore"):
            res = minimize(huber_objective, x0, args=(form, X, y, options.delta), jac=True,
                           method="L-BFGS-B", bounds=bounds,
                           options={"ftol": options.ftol, "gtol": options.gtol,
                                    "maxiter": options.maxiter, "maxfun": 2 * options.maxiter})
    except (ValueError, FloatingPointError, OverflowError):
        return
    if np.isfinite(res.fun) and np.all(np.isfinite(res.x)):
        out.append((float(res.fun), np.asarray(res.x, float), bool(res.success)))


def _parallel_starts(form, X, y, starts, options):
    chunks = np.array_split(starts, options.n_jobs * 4)
    ctx = mp.get_context(options.mp_context)
    with cf.ProcessPoolExecutor(max_workers=options.n_jobs, mp_context=ctx) as pool:
        parts = pool.map(_run_starts, *zip(*[(form, X, y, c, options) for c in chunks]))
        return [r for part in parts for r in part]


def screen_starts(form: Form, X: np.ndarray, y: np.ndarray, grid: np.ndarray,
                  options: FitOptions) -> np.ndarray:
    """The options.n_screen grid points with the lowest objective (non-finite ones dropped)."""
    with np.errstate(all="ignore"), one_blas_thread():
        vals = np.array([huber_objective(th, form, X, y, options.delta)[0] for th in grid])
    vals = np.where(np.isfinite(vals), vals, np.inf)
    order = np.argsort(vals, kind="stable")[: options.n_screen]
    return grid[order[np.isfinite(vals[order])]]


def _grad_check(form, X, y, theta, f, options) -> tuple[float, float]:
    """max |projected gradient| at theta, and the limit it must not exceed."""
    _, grad = huber_objective(theta, form, X, y, options.delta)
    gnorm = float(np.max(np.abs(_projected_grad(theta, grad, form.bounds))))
    return gnorm, options.grad_tol * max(1.0, f)


def fit_form(form: Form, X: np.ndarray, y: np.ndarray, options: FitOptions = FitOptions(),
             starts: np.ndarray | None = None, n_top: int = 5) -> FitResult:
    """Fit `form` to ln-losses `y` at features `X` from `starts` (default: the form's grid).

    Returns the best optimum with its status; it does not raise: call `require_ok()` for that.
    """
    y = np.asarray(y, float)
    if starts is None:
        starts = form.grid()
        if options.grid_mode == "screened" and len(starts) > options.n_screen:
            starts = screen_starts(form, X, y, starts, options)
    starts = np.atleast_2d(np.asarray(starts, float))
    if options.n_jobs > 1 and len(starts) >= options.min_parallel_starts:
        results = _parallel_starts(form, X, y, starts, options)
    else:
        results = _run_starts(form, X, y, starts, options)
    n_success = sum(r[2] for r in results)
    if not results:
        return FitResult(form.name, np.full(len(form.names), np.nan), {}, np.inf, np.inf,
                         FitStatus.NO_START_CONVERGED, "no start gave a finite objective", len(starts),
                         len(y))
    results.sort(key=lambda r: r[0])
    best_f, best_theta, _ = results[0]
    top = [best_theta]
    for f, th, _ in results[1:]:
        if len(top) >= n_top:
            break
        if all(np.max(np.abs(th - t)) > 1e-3 for t in top):
            top.append(th)
    gnorm, limit = _grad_check(form, X, y, best_theta, best_f, options)
    for _ in range(options.restarts):
        if gnorm <= limit:
            break
        # L-BFGS-B can stop on ftol with a stale curvature model: restart it from where it stopped
        again = _run_starts(form, X, y, best_theta[None, :], options)
        if not again or again[0][0] > best_f:
            break
        best_f, best_theta = again[0][0], again[0][1]
        gnorm, limit = _grad_check(form, X, y, best_theta, best_f, options)
    if gnorm <= limit:
        status, msg = FitStatus.OK, f"gradient {gnorm:.3g} <= {limit:.3g}"
    else:
        status = FitStatus.GRADIENT_NOT_SMALL
        msg = (f"the best of {len(starts)} starts stopped with max |gradient| {gnorm:.3g} > "
               f"{limit:.3g}; the optimum is not a stationary point (check the data or the form)")
    return FitResult(form.name, best_theta, form.natural(best_theta), best_f, gnorm, status, msg,
                     len(starts), len(y), n_success, top)

"""Bootstrap over runs: seeded resamples, evaluated in parallel worker processes.

All resample indices are drawn up front in the parent from one seed, so the result does not depend
on the number of workers or on their scheduling.  Resampling can be stratified (within each group,
e.g. (init, N)) so that every resample still holds scratch runs at every size.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .robust import CORES, one_blas_thread  # CORES: resamples and planner draws use every core

# The default number of resamples grows with the points fitted: the Monte Carlo error of a percentile
# interval's ends (~1.4 / sqrt(B) of its half-width) stays at most half their sampling error over
# sweeps (~1 / sqrt(2 P) for P points) when B >= 15 P. At least 1000 (25 resamples beyond each end,
# the "thousands" of the recipe this fit follows), at most 4000 (Chinchilla's refit used 4000).
RESAMPLES_PER_POINT = 15
MIN_RESAMPLES, MAX_RESAMPLES = 1000, 4000


def auto_resamples(n_points: int) -> int:
    """The default resample count for a fit of `n_points` points (replicates averaged)."""
    return int(min(MAX_RESAMPLES, max(MIN_RESAMPLES, RESAMPLES_PER_POINT * n_points)))


@dataclass(frozen=True)
class BootstrapOptions:
    """How many resamples, from which seed, on how many processes."""

    n_resamples: int = 1000  # resamples of the runs (paper.md §4.5 item 5: thousands)
    seed: int = 0  # seed of the single generator that draws every resample
    n_jobs: int = CORES  # worker processes; 1 runs in this process (results are the same)
    mp_context: str = "forkserver"  # start method for the workers
    n_chunks: int = 40  # work units handed to the pool (also the progress granularity)


def resample_indices(n: int, n_resamples: int, seed: int,
                     strata: np.ndarray | None = None) -> np.ndarray:
    """(n_resamples, n) row indices drawn with replacement, within each stratum if given."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(n_resamples, n))
    out = np.empty((n_resamples, n), dtype=np.int64)
    _, labels = np.unique(np.asarray(strata), return_inverse=True)
    col = 0
    for g in range(labels.max() + 1):
        members = np.flatnonzero(labels == g)
        out[:, col:col + len(members)] = members[rng.integers(0, len(members),
                                                              size=(n_resamples, len(members)))]
        col += len(members)
    return out


def _run_chunk(fn: Callable, data, idx: np.ndarray) -> np.ndarray:
    with one_blas_thread():  # one BLAS thread per worker (robust.py)
        return np.array([fn(data, row) for row in idx], dtype=float)


def run_bootstrap(fn: Callable[[object, np.ndarray], np.ndarray], data, idx: np.ndarray,
                  options: BootstrapOptions = BootstrapOptions(),
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Evaluate fn(data, rows) for every row-index vector in `idx`; (n_resamples, k) array.

    fn must be a module-level function (it is pickled to the workers) and should return NaNs for a
    resample it cannot fit; `progress(k)` is called with the number of resamples just finished.
    """
    chunks = np.array_split(idx, min(options.n_chunks, len(idx)))
    if options.n_jobs <= 1:
        parts = []
        for c in chunks:
            parts.append(_run_chunk(fn, data, c))
            if progress:
                progress(len(c))
        return np.vstack(parts)
    ctx = mp.get_context(options.mp_context)
    with cf.ProcessPoolExecutor(max_workers=options.n_jobs, mp_context=ctx) as pool:
        futures = {pool.submit(_run_chunk, fn, data, c): i for i, c in enumerate(chunks)}
        parts = [None] * len(chunks)
        for fut in cf.as_completed(futures):
            i = futures[fut]
            parts[i] = fut.result()
            if progress:
                progress(len(chunks[i]))
    return np.vstack(parts)


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> np.ndarray:
    """(k, 2) percentile interval per column, ignoring failed (NaN) resamples."""
    lo = 100 * (1 - level) / 2
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN intervals
        return np.nanpercentile(samples, [lo, 100 - lo], axis=0).T

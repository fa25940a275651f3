"""Synthetic sweeps drawn from a known Kaplan surface and a known transfer law.

Used by the recovery tests and the benchmark: scratch losses are L(N, D), fine-tuned losses are
L(N, D_F + k D_F^alpha N^beta), each times log-normal noise, so the fitter's job is to give the
known (k, alpha, beta) back with intervals that cover them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .analysis import Runs
from .forms import Kaplan

# Kaplan et al. 2020, Table 2 (tokens).
KAPLAN_2020 = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}


@dataclass(frozen=True)
class SweepSpec:
    """A sweep-like grid (issue 3 acceptance): sizes, scratch D, fine-tune D_F, truth, noise."""

    sizes: tuple = tuple(np.geomspace(1e4, 3e6, 5))
    scratch_d: tuple = tuple(np.geomspace(1e4, 1e9, 11))
    d_f: tuple = tuple(np.geomspace(1e4, 1e6, 5))
    surface: dict = field(default_factory=lambda: dict(KAPLAN_2020))
    k: float = 2e3
    alpha: float = 0.18
    beta: float = 0.38
    noise: float = 0.005  # sigma of the log-normal loss noise
    source: str = "text"


def make_sweep(seed: int, spec: SweepSpec = SweepSpec()) -> Runs:
    """One noisy sweep: every size x scratch D, and every size x D_F fine-tuned from `source`."""
    rng = np.random.default_rng(seed)
    n_s, d_s = (a.ravel() for a in np.meshgrid(spec.sizes, spec.scratch_d, indexing="ij"))
    n_f, d_f = (a.ravel() for a in np.meshgrid(spec.sizes, spec.d_f, indexing="ij"))
    d_e = d_f + spec.k * d_f ** spec.alpha * n_f ** spec.beta
    n = np.concatenate([n_s, n_f])
    loss = Kaplan.loss(spec.surface, n, np.concatenate([d_s, d_e]))
    loss = loss * np.exp(spec.noise * rng.standard_normal(len(loss)))
    init = np.array(["scratch"] * len(n_s) + [spec.source] * len(n_f))
    return Runs(n, np.concatenate([d_s, d_f]), loss, init)

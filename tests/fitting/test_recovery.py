"""Synthetic recovery (issue 3 acceptance): losses from a known Kaplan surface and a known
(k, alpha, beta) with 0.5 % log-normal noise on a sweep-like grid (5 sizes 1e4-3e6, scratch D over
1e4-1e9, 5 D_F over 1e4-1e6, D_E <= 30 % of D(N)).  The bootstrap refits the scratch surface and
the per-N curves in every resample, so the intervals carry the scratch fit's uncertainty.

Default run: 2 seeds; `-m slow`: the full 40 seeds (coverage >= 90 %, median |error| <= 0.03).
"""
from __future__ import annotations

import numpy as np
import pytest

from transfer_laws.tasks.fitting.analysis import AnalysisOptions, analyse
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
from transfer_laws.tasks.fitting.synthetic import SweepSpec, make_sweep

SPEC = SweepSpec()


def recover(seed: int, n_resamples: int) -> dict:
    a = analyse(make_sweep(seed, SPEC), AnalysisOptions(
        form="kaplan", other_form=False, bootstrap=BootstrapOptions(n_resamples, seed=seed)))
    law = a.estimate.transfer[SPEC.source]
    out = {"n_points": law.n_points}
    for k in ("alpha", "beta"):
        lo, hi = a.ci95[f"transfer.{SPEC.source}.{k}"]
        truth = getattr(SPEC, k)
        out[k] = {"est": getattr(law, k), "covered": lo <= truth <= hi, "ci": (lo, hi)}
    return out


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.refit
def test_recovery_short(seed):
    r = recover(seed, 200)
    assert r["n_points"] == 25
    for k in ("alpha", "beta"):
        assert abs(r[k]["est"] - getattr(SPEC, k)) <= 0.03, r
        assert r[k]["covered"], r


@pytest.mark.slow
def test_recovery_40_seeds():
    rows = [recover(seed, 400) for seed in range(40)]
    for k in ("alpha", "beta"):
        coverage = np.mean([r[k]["covered"] for r in rows])
        err = np.median([abs(r[k]["est"] - getattr(SPEC, k)) for r in rows])
        print(f"{k}: coverage {coverage:.3f}, median |error| {err:.4f}")
        assert coverage >= 0.9
        assert err <= 0.03

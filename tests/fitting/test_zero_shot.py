"""Zero-shot points (D_F = 0): the pre-trained model's worth recovered from a known surface, what
fine-tuning added on top of it, and the marks that keep a fine-tune that learnt nothing from being
read as a law of D_F."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transfer_laws.tasks.fitting.analysis import AnalysisOptions
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
from transfer_laws.tasks.fitting.forms import Kaplan
from transfer_laws.tasks.fitting.synthetic import KAPLAN_2020
from transfer_laws.tasks.fitting.verdicts import Verdict, judge_law
from transfer_laws.tasks.fitting.zero_shot import (
    FINETUNE_SIGMA_DEFAULT,
    NOISE_SIGMAS,
    mark_finetunes,
    zero_shot_table,
)
from transfer_laws.tasks.report.fit import fit_runs, headline_md
from transfer_laws.tasks.report.runs_csv import validate_runs

SIZES = np.geomspace(1e4, 3e6, 4)
SCRATCH_D = np.geomspace(1e4, 1e9, 9)
D_F = np.geomspace(1e4, 1e6, 4)


def _sweep(worth: float, added: float | None, noise: float = 0.002, seed: int = 0) -> pd.DataFrame:
    """Scratch runs on KAPLAN_2020; zero-shot runs worth `worth` tokens at every size; fine-tunes
    worth worth + added * D_F (added None: exactly the zero-shot loss, fine-tuning taught nothing)."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in SIZES:
        for d in SCRATCH_D:
            rows.append((n, d, "scratch", Kaplan.loss(KAPLAN_2020, n, d)))
        rows.append((n, 0.0, "text", Kaplan.loss(KAPLAN_2020, n, worth)))
        for d_f in D_F:
            d_e = worth if added is None else worth + added * d_f
            rows.append((n, d_f, "text", Kaplan.loss(KAPLAN_2020, n, d_e)))
    df = pd.DataFrame(rows, columns=["N", "D", "init", "loss"])
    df["loss"] *= np.exp(noise * rng.standard_normal(len(df)))
    df.loc[df.D == 0, "loss"] = [Kaplan.loss(KAPLAN_2020, n, worth) for n in SIZES]  # exact: one model each
    return df


OPTIONS = AnalysisOptions(bootstrap=BootstrapOptions(n_resamples=60, seed=0, n_jobs=1), other_form=False)


@pytest.mark.refit
def test_the_pretrained_models_worth_and_what_fine_tuning_added_are_recovered():
    worth = 3e5
    fit = fit_runs(validate_runs(_sweep(worth, added=30.0, noise=0.001)), None, OPTIONS, rollout=False)
    z = fit["zero_shot"]["text"]
    assert z["D_E"] == pytest.approx(worth, rel=0.1)
    assert z["ci95"][0] < worth < z["ci95"][1]
    for a in z["added"]:
        assert a["estimate"] == pytest.approx(30.0 * a["D_F"], rel=0.25), a
        assert a["verdict"] == "resolved" and a["at_zero_shot"] == 0
    text = "\n".join(headline_md(fit))
    assert "the pre-trained model alone (zero-shot, before any fine-tuning) is worth **3" in text
    assert "fine-tuning on D_F = 1e+04 tokens added" in text and "resolved above 0" in text


@pytest.mark.refit
def test_a_fine_tune_that_learnt_nothing_is_marked_and_its_law_is_not_a_law_of_d_f():
    fit = fit_runs(validate_runs(_sweep(3e6, added=None)), None, OPTIONS, rollout=False)
    z = fit["zero_shot"]["text"]
    assert all(a["at_zero_shot"] == a["n_sizes"] and a["verdict"] == "degenerate" for a in z["added"])
    law = fit["transfer"]["text"]
    if law["status"] == "ok":  # a law may still come out of the noise: it is not called one
        assert law["n_informative"] == 0
        assert law["verdict"]["verdict"] == "degenerate"
        assert "describes the pre-trained model, not D_F" in law["verdict"]["reason"]
    text = "\n".join(headline_md(fit))
    assert "added nothing resolved beyond zero-shot" in text
    assert f"{len(SIZES) * len(D_F)} of {len(SIZES) * len(D_F)} fine-tuned points ended within noise" in text


def test_a_law_whose_points_all_measured_the_pretrained_model_is_degenerate():
    law = {"status": "ok", "k": 1.9e4, "alpha": 0.18, "beta": 0.38, "n_points": 20, "r2_log": 0.9,
           "n_informative": 0, "ci95": {"k": [2e3, 2e5], "alpha": [0.1, 0.26], "beta": [0.3, 0.46]}}
    verdict, each = judge_law(law)
    assert verdict.verdict is Verdict.DEGENERATE and "each of its 20 points" in verdict.reason
    assert judge_law({**law, "n_informative": 5})[0].verdict is Verdict.RESOLVED


def test_marks_use_the_measured_noise_and_the_best_step():
    zs = zero_shot_table([1e4, 1e4, 1e5], ["a", "a", "a"], [3.0, 3.0 * np.exp(0.002), 2.0])
    assert zs.loss[0] == pytest.approx(3.0 * np.exp(0.001))  # seeds averaged in log space
    n = np.array([1e4, 1e4, 1e5, 1e5])
    loss = np.array([3.0, 2.7, 2.0 * np.exp(-0.5 * NOISE_SIGMAS * FINETUNE_SIGMA_DEFAULT), 1.9])
    m = mark_finetunes(n, np.array(["a"] * 4), loss, np.array([5.0, 0.5, 5.0, 5.0]), zs,
                       best_step=np.array([40, 40, 40, 1]))
    assert m.at_zero_shot.tolist() == [True, False, True, False]
    assert m.first_epoch.tolist() == [False, True, False, True]
    assert m.uninformative.tolist() == [True, True, True, True]
    wide = mark_finetunes(n, np.array(["a"] * 4), loss, None, zs, sigma=np.full(4, 0.06))
    assert wide.at_zero_shot.tolist() == [True, True, True, True] and wide.sigma_from == "replicates"
    none = mark_finetunes(n, np.array(["b"] * 4), loss, None, zs)  # no zero-shot run of source b
    assert not none.at_zero_shot.any() and np.isnan(none.gain_log).all()


@settings(max_examples=40, deadline=None)
@given(gain=st.floats(-0.05, 0.05), sigma=st.floats(1e-4, 0.02))
def test_a_point_is_at_zero_shot_exactly_when_its_gain_is_within_the_tolerance(gain, sigma):
    zs = zero_shot_table([1e4], ["a"], [3.0])
    m = mark_finetunes(np.array([1e4]), np.array(["a"]), np.array([3.0 * np.exp(-gain)]), None, zs,
                       sigma=np.array([sigma]))
    assert m.gain_log[0] == pytest.approx(gain, abs=1e-12)
    if abs(gain - NOISE_SIGMAS * sigma) > 1e-9:
        assert bool(m.at_zero_shot[0]) == (gain <= NOISE_SIGMAS * sigma)


def test_a_zero_d_is_a_zero_shot_row_only_when_its_init_names_a_source():
    df = _sweep(3e6, added=4.0)
    df.loc[0, "D"] = 0.0  # a scratch row
    with pytest.raises(Exception, match=r"row 1 .*column D.*0 only on a zero-shot row"):
        validate_runs(df)

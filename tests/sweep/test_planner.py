"""`transfer-laws plan`: the predicted intervals agree with a real bootstrap on a known surface, a
replicated grid is predicted narrower, and bad input is one line naming the flag."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from transfer_laws.flows.cli import main
from transfer_laws.tasks.fitting import design as design_module
from transfer_laws.tasks.fitting.analysis import AnalysisOptions, analyse
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
from transfer_laws.tasks.fitting.design import (
    Design,
    Prior,
    calibrate_scatter,
    predict,
    predict_many,
    simulate_runs,
    unusable_mask,
)
from transfer_laws.tasks.fitting.noise import constant_noise
from transfer_laws.tasks.fitting.synthetic import SweepSpec, make_sweep

REPO = Path(__file__).resolve().parents[2]
SPEC = SweepSpec(noise=0.01)
PRIOR = Prior("kaplan", dict(SPEC.surface), {"text": {"k": SPEC.k, "alpha": SPEC.alpha, "beta": SPEC.beta}},
              constant_noise(0.01), "synthetic truth")
DESIGN = Design(tuple(SPEC.sizes), tuple(SPEC.scratch_d), tuple(SPEC.d_f))


def test_predicted_widths_match_the_bootstrap_of_one_sweep_within_1_5x():
    pred = predict(PRIOR, DESIGN, n_draws=48, seed=1).sources["text"]
    assert pred.n_ok == 48 and abs(pred.median["alpha"] - SPEC.alpha) < 0.03
    fit = analyse(make_sweep(5, SPEC), AnalysisOptions(bootstrap=BootstrapOptions(n_resamples=200)))
    for q in ("alpha", "beta"):
        lo, hi = fit.ci95[f"transfer.text.{q}"]
        assert 1 / 1.5 < (hi - lo) / pred.width[q] < 1.5, (q, hi - lo, pred.width[q])


def test_replicates_narrow_the_predicted_interval_by_about_sqrt_r():
    one = predict(PRIOR, DESIGN, n_draws=48).sources["text"]
    four = predict(PRIOR, Design(DESIGN.sizes, DESIGN.scratch_d, DESIGN.d_f, replicates=4),
                   n_draws=48).sources["text"]
    ratio = four.width["beta"] / one.width["beta"]
    assert 0.35 < ratio < 0.7, ratio  # 1/sqrt(4) = 0.5


def _seen_with_unusable(unusable: set) -> dict:
    return {"text": tuple((n, d, (n, d) not in unusable) for n in SPEC.sizes for d in SPEC.d_f)}


def test_points_the_prior_saw_unusable_are_left_out_of_each_simulated_sweep():
    small_d_f = {(n, SPEC.d_f[0]) for n in SPEC.sizes} | {(SPEC.sizes[0], SPEC.d_f[1])}
    prior = replace(PRIOR, seen=_seen_with_unusable(small_d_f))
    runs = simulate_runs(prior, DESIGN, np.random.default_rng(0))
    ft = {(n, d) for n, d, i in zip(runs.n, runs.d, runs.init) if i == "text"}
    assert len(ft) == len(SPEC.sizes) * len(SPEC.d_f) - len(small_d_f) and not ft & small_d_f
    # inside the measured grid a point takes its nearest measured neighbour's outcome; outside it
    # (D_F ten times the largest measured) the law is assumed to hold
    d_f = np.array([SPEC.d_f[0] * 1.1, SPEC.d_f[2] * 1.1, SPEC.d_f[-1] * 10])
    n = np.full(3, SPEC.sizes[2])
    assert unusable_mask(prior, "text", n, d_f).tolist() == [True, False, False]
    assert not unusable_mask(PRIOR, "text", n, d_f).any()  # a prior that saw nothing drops nothing


def test_fewer_usable_points_predict_a_wider_interval():
    half = {(n, d) for n in SPEC.sizes for d in SPEC.d_f[:2]}
    full = predict(PRIOR, DESIGN, n_draws=32).sources["text"]
    fewer = predict(replace(PRIOR, seen=_seen_with_unusable(half)), DESIGN, n_draws=32).sources["text"]
    assert fewer.width["beta"] > 1.2 * full.width["beta"], (fewer.width, full.width)


def test_scatter_calibration_matches_the_observed_law_scatter_and_keeps_measured_noise():
    law = PRIOR.laws["text"]
    residual = replace(PRIOR, laws={"text": law, "code": law},
                       noise=replace(constant_noise(0.01), source="residuals"))
    base = predict(residual, DESIGN, n_draws=32).sources["text"].residual_var
    # text: less scatter than residual noise on every run gives -> its fine-tune sigma is lowered
    # until the simulated scatter matches, the scratch sigma kept; code: more -> lack of fit,
    # tau^2 = observed - simulated, and its sigma stays the scratch one (not text's lowered one)
    cal = calibrate_scatter(replace(residual, law_residual_var={"text": base / 3, "code": base + 0.04}),
                            DESIGN)
    assert 0 < cal.matched_finetune_sigma["text"] < 0.01 and set(cal.matched_finetune_sigma) == {"text"}
    assert cal.misfit["text"] == 0.0 and 0.1 < cal.misfit["code"] < 0.3
    assert cal.noise.kinds["scratch"].pooled == 0.01 and float(cal.noise.sigma("code", 1e4)) == pytest.approx(0.01)
    assert not cal.scatter["text"]["floor_reached"]
    after = predict(cal, DESIGN, n_draws=32, seed=3).sources["text"].residual_var
    assert base / 3 / 1.5 < after < base / 3 * 1.5, (base, after)
    # measured noise is never changed: the excess stays (tau = 0)
    measured = calibrate_scatter(replace(PRIOR, law_residual_var={"text": base / 3}), DESIGN)
    assert measured.noise.kinds == PRIOR.noise.kinds
    assert not measured.matched_finetune_sigma and measured.misfit == {"text": 0.0}


def test_plan_prints_the_expected_intervals_of_the_demo(capsys):
    assert main(["plan", str(REPO / "configs/demo.yaml"), "--draws", "16"]) == 0
    out = capsys.readouterr().out
    assert "prior: default: Table 1" in out and "16 simulated sweeps" in out
    row = next(line for line in out.splitlines() if line.startswith("code "))
    assert all(np.isfinite(float(x)) for x in row.split()[1:4])


def _fit_json(tmp_path, with_noise=True) -> Path:
    out = tmp_path / "fit"
    df = make_sweep(2, SPEC)
    import pandas as pd

    pd.DataFrame({"N": df.n, "D": df.d, "init": np.where(df.init == "text", "code", df.init),
                  "loss": df.loss}).to_csv(tmp_path / "runs.csv", index=False)
    assert main(["fit", str(tmp_path / "runs.csv"), "--out", str(out), "--bootstrap", "0",
                 "--no-figures"]) == 0
    path = out / "fit.json"
    if not with_noise:
        fit = json.loads(path.read_text())
        fit.pop("noise")
        path.write_text(json.dumps(fit))
    return path


def test_a_prior_fit_json_is_read_with_its_noise_and_the_points_it_could_use(tmp_path, capsys):
    fit = _fit_json(tmp_path)
    seen = json.loads(fit.read_text())["transfer"]["code"]["d_t_observed"]
    assert len(seen["usable"]) + len(seen["unusable"]) == len(SPEC.sizes) * len(SPEC.d_f)
    assert main(["plan", str(REPO / "configs/demo.yaml"), "--prior", str(fit), "--draws", "8"]) == 0
    out = capsys.readouterr().out
    assert "noise measured (residuals)" in out
    assert f"left out of the simulation as the fit left them out: code {len(seen['unusable'])} of" in out
    assert "the law's scatter matched on the prior's own grid (5 sizes, 5 D_F, 1 seed(s) a point)" in out


@pytest.mark.parametrize("args,flag,needle", [
    (["--no-default-prior"], "--prior", "no prior given"),
    (["--prior", "nowhere.json"], "--prior", "no such file"),
    (["--noise", "2"], "--noise", "between 0 and 1"),
    (["--draws", "3"], "--draws", "too few"),
    (["--budget-minutes", "0"], "--budget-minutes", "must be positive"),
    (["--budget-minutes", "0.01", "--max-replicates", "1", "--pretrain-scales", "1"], "--budget-minutes",
     "below the cheapest design"),  # 36 designs priced, not 324: the refusal is the same
    (["--budget-minutes", "10", "--max-replicates", "0"], "--max-replicates", "at least 1"),
    (["--budget-minutes", "10", "--pretrain-scales", "1,-2"], "--pretrain-scales", "positive"),
])
def test_bad_planner_input_is_one_line_naming_the_flag(args, flag, needle, capsys):
    assert main(["plan", str(REPO / "configs/demo.yaml"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"error: {flag}" in err[0] and needle in err[0] and "Fix:" in err[0], err


def test_a_prior_without_noise_or_the_config_sources_is_refused(tmp_path, capsys):
    fit = _fit_json(tmp_path, with_noise=False)
    assert main(["plan", str(REPO / "configs/demo.yaml"), "--prior", str(fit)]) == 2
    assert "error: --noise" in capsys.readouterr().err
    other = tmp_path / "other.json"
    data = json.loads(fit.read_text())
    data["transfer"] = {"prose": data["transfer"]["code"]}
    other.write_text(json.dumps(data))
    assert main(["plan", str(REPO / "configs/demo.yaml"), "--prior", str(other), "--noise", "0.01"]) == 2
    assert "no fitted law for source(s) ['code']" in capsys.readouterr().err


def test_a_replicated_fit_reports_its_noise_and_the_planners_verdict(tmp_path):
    import pandas as pd

    draws = [make_sweep(s, SPEC) for s in range(2)]
    pd.DataFrame({"N": np.concatenate([r.n for r in draws]), "D": np.concatenate([r.d for r in draws]),
                  "init": np.concatenate([r.init for r in draws]),
                  "loss": np.concatenate([r.loss for r in draws]),
                  "seed": np.repeat([0, 1], len(draws[0].n))}).to_csv(tmp_path / "runs.csv", index=False)
    out = tmp_path / "fit"
    assert main(["fit", str(tmp_path / "runs.csv"), "--out", str(out), "--bootstrap", "20",
                 "--no-figures", "--plan-draws", "8"]) == 0
    fit = json.loads((out / "fit.json").read_text())
    assert fit["noise"]["source"] == "replicates" and fit["noise"]["max_seeds_per_point"] == 2
    assert set(fit["noise"]["kinds"]) == {"scratch", "text"}
    assert fit["planner"]["replicates"] == 2 and fit["planner"]["draws"] == 8
    assert np.isfinite(fit["planner"]["sources"]["text"]["half_width"]["beta"])
    report = (out / "report.md").read_text()
    assert "## Noise (replicates)" in report and "this grid (2 seed(s) a point) resolves alpha" in report
    points = pd.read_csv(out / "points.csv")
    assert (points["point_seeds"] == 2).all()
    ft = points[points["init"] == "text"]
    assert ft.groupby(["N", "D"])["D_E"].nunique().max() == 1  # replicates share their point's D_E


def test_a_budget_search_prints_designs_within_the_budget_as_yaml_that_validates(capsys):
    import yaml

    from transfer_laws.tasks.sweep.config import SweepConfig

    assert main(["plan", str(REPO / "configs/demo.yaml"), "--budget-minutes", "6", "--designs", "4",
                 "--search-draws", "8", "--draws", "8", "--top", "2", "--max-replicates", "1",
                 "--pretrain-scales", "1"]) == 0
    out = capsys.readouterr().out
    blocks = out.split("\ndesign ")[1:]
    assert len(blocks) == 2, out
    base = yaml.safe_load((REPO / "configs/demo.yaml").read_text())
    for block in blocks:
        minutes = float(block.split("; ")[-1].split(" min on this machine")[0].split()[-1])
        assert minutes <= 6
        snippet = yaml.safe_load(block[block.index("experiment:"):])
        assert set(snippet) == {"experiment"}
        assert set(snippet["experiment"]) == {"sizes", "finetune_tokens", "replicates", "pretrain_tokens"}
        assert all(isinstance(n, int) for n in snippet["experiment"]["sizes"])  # as a person writes them
        SweepConfig.checked({**base, "experiment": {**base["experiment"], **snippet["experiment"]}})  # pastes in


def test_a_seed_gives_the_same_prediction_and_intervals_on_any_number_of_processes():
    """Planner draws and bootstrap resamples are spread over processes: one process or three, the
    same seed gives the same numbers to the last bit (each draw's randomness is its own)."""

    designs = [DESIGN, replace(DESIGN, sizes=DESIGN.sizes[1:]), replace(DESIGN, d_f=DESIGN.d_f[:-1])]
    preds = []
    for jobs in (1, 3):
        design_module._WARM.clear()  # each count fits the designs' warm starts itself (3 designs, 2 distinct)
        preds.append([p.sources["text"] for p in predict_many(PRIOR, designs, n_draws=6, seed=2, n_jobs=jobs)])
    assert preds[0] == preds[1]
    assert preds[0][0] != preds[0][1]  # the designs differ, and so do their predictions
    runs = make_sweep(4, SPEC)
    fits = [analyse(runs, AnalysisOptions(bootstrap=BootstrapOptions(24, seed=3, n_jobs=jobs, n_chunks=5),
                                          other_form=False)) for jobs in (1, 3)]
    np.testing.assert_array_equal(fits[0].samples, fits[1].samples)
    np.testing.assert_equal(fits[0].ci95, fits[1].ci95)  # NaN ends (k in characters: none) included

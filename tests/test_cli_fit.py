"""`transfer-laws fit` / `predict` end to end, and exit code 2 for every bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transfer_laws.flows.cli import main
from transfer_laws.tasks.fitting.synthetic import SweepSpec, make_sweep


def sweep_csv(tmp_path, changes: dict | None = None) -> str:
    r = make_sweep(11)
    df = pd.DataFrame({"N": r.n, "D": r.d, "init": r.init, "loss": r.loss, "run_key": "x"})
    df["run_key"] = [f"k{i}" for i in range(len(df))]
    df["D_chars"] = df["D"] * 3.5
    for (row, col), value in (changes or {}).items():
        df[col] = df[col].astype(object)
        df.loc[row, col] = value
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fit")
    out = tmp / "out"
    code = main(["fit", sweep_csv(tmp), "--out", str(out), "--bootstrap", "30", "--jobs", "1",
                 "--seed", "3"])
    assert code == 0
    return out


def test_fit_writes_the_stable_keys_and_files(fitted):
    fit = json.loads((fitted / "fit.json").read_text())
    s = fit["scratch"]
    assert s["form"] == "kaplan" and set(s["params"]) == {"alpha_N", "alpha_D", "N_c", "D_c"}
    assert set(s["ci95"]) == set(s["params"]) and s["n_points"] == 55
    assert set(fit["scratch_forms"]["chinchilla"]["params"]) == {"E", "A", "B", "alpha", "beta"}
    t = fit["transfer"]["text"]
    for key in ("k", "alpha", "beta", "ci95", "n_points", "r2_log"):
        assert key in t
    assert set(t["ci95"]) >= {"k", "alpha", "beta"} and t["n_points"] == 25
    assert t["k_chars"] > t["k"]  # 3.5 chars per token, k_chars = k * 3.5^(1 - alpha)
    assert (fitted / "points.csv").is_file() and fit["points"].endswith("points.csv")
    points = pd.read_csv(fitted / fit["points"])  # relative to fit.json
    assert {"D_E", "D_T", "fraction_D_F_over_D_E", "multiplier_D_E_over_D_F", "regime",
            "extrapolated", "unreachable", "ossified"} <= set(points.columns)
    for name in ("report.md", "scratch_surface.png", "fraction_vs_N.png", "logit_fits.png",
                 "multiplier_vs_D_F.png"):
        assert (fitted / name).stat().st_size > 0, name
    c = fit["checklist"]
    for key in ("form", "loss", "delta", "optimiser", "grid", "bootstrap", "excluded_points",
                "conventions", "data_units"):
        assert key in c
    assert fit["rollout"]["status"] == "ok"


def test_predict_from_fit(fitted, capsys):
    assert main(["predict", "--fit", str(fitted / "fit.json"), "--n", "1e6", "--d-f", "1e5"]) == 0
    out = capsys.readouterr().out
    assert "D_T" in out and "95 % interval" in out


def test_predict_beyond_the_fitted_range_needs_extrapolate_and_says_so(fitted, capsys):
    fit = str(fitted / "fit.json")
    far = ["predict", "--fit", fit, "--n", "1e30", "--d-f", "1e-3", "--json"]
    assert main(far) == 2
    assert "decades outside" in capsys.readouterr().err
    assert main(far + ["--extrapolate"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["extrapolation_decades"] > 20 and "extrapolation" in pred["note"]


def test_predict_table_1_text(tmp_path, capsys):
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"transfer": {"text": {"k": 1.9e4, "alpha": 0.18, "beta": 0.38}}}))
    assert main(["predict", "--fit", str(path), "--n", "1.75e11", "--d-f", "1", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert 3.5e8 <= pred["d_t"] <= 3.75e8


@pytest.mark.parametrize("changes,args", [
    ({}, ["--bootstrap", "-1"]),
    ({(3, "loss"): np.nan}, []),
    ({(5, "N"): -1.0}, []),
    ({(7, "D"): 0.0}, []),
])
def test_bad_inputs_exit_2(tmp_path, capsys, changes, args):
    code = main(["fit", sweep_csv(tmp_path, changes), "--out", str(tmp_path / "o"),
                 "--bootstrap", "0"] + args)
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Fix:" in err


def _write(tmp_path, df) -> str:
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    return str(path)


def _base():
    r = make_sweep(11)
    return pd.DataFrame({"N": r.n, "D": r.d, "init": r.init, "loss": r.loss})


@pytest.mark.parametrize("mutate,args,needle", [
    (lambda df: df.drop(columns="loss"), [], "column loss"),
    (lambda df: df.head(4), ["--transfer", "no"], "needs >= 5 scratch runs"),
    (lambda df: df[df["init"] == "scratch"], ["--transfer", "yes"], "no fine-tuned runs"),
    (lambda df: pd.concat([df, df.head(1).assign(loss=9.9)]), [], "different losses"),
    (lambda df: df[(df["init"] == "scratch") | (df.index == 60)], [], "init = text"),
])
def test_bad_tables_exit_2_and_name_the_problem(tmp_path, capsys, mutate, args, needle):
    code = main(["fit", _write(tmp_path, mutate(_base())), "--out", str(tmp_path / "o"),
                 "--bootstrap", "0"] + args)
    assert code == 2
    assert needle in capsys.readouterr().err


def test_predict_bad_inputs_exit_2(tmp_path, fitted):
    assert main(["predict", "--fit", str(tmp_path / "none.json"), "--n", "1", "--d-f", "1"]) == 2
    fit = str(fitted / "fit.json")
    assert main(["predict", "--fit", fit, "--n", "-1", "--d-f", "1"]) == 2
    assert main(["predict", "--fit", fit, "--n", "1e6", "--d-f", "1", "--source", "nope"]) == 2
    assert main(["fit", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2


def test_predict_from_a_source_whose_law_did_not_fit_is_a_clear_error(tmp_path, capsys):
    fit = {"transfer": {"code": {"k": None, "alpha": None, "beta": None, "status": "too_few_points",
                                 "message": "1 low-data point"}}}
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(fit))
    assert main(["predict", "--fit", str(path), "--n", "1e6", "--d-f", "1e5"]) == 2
    err = capsys.readouterr().err
    assert "'code' has no fitted law" in err and "too_few_points" in err


def test_fit_without_bootstrap_still_reports_the_transfer_law(tmp_path):
    """--bootstrap 0 (no intervals) must not crash where intervals are read (k in chars too)."""
    out = tmp_path / "out"
    assert main(["fit", sweep_csv(tmp_path), "--out", str(out), "--bootstrap", "0", "--jobs", "1",
                 "--no-figures"]) == 0
    fit = json.loads((out / "fit.json").read_text())
    law = next(iter(fit["transfer"].values()))
    assert np.isfinite([law["k"], law["alpha"], law["beta"]]).all()
    assert all(v is None for v in law["ci95"]["k_chars"]), "no resamples: no interval, not a guess"


def test_figures_survive_a_sweep_whose_fine_tunes_all_lie_out_of_reach(tmp_path):
    """Every fine-tuned loss below what scratch training can reach: D_E = inf everywhere, which a
    log axis cannot draw; the report must still be written (no law, figures without those points)."""
    df = pd.read_csv(sweep_csv(tmp_path))
    df.loc[df["init"] != "scratch", "loss"] = 1e-3
    df.to_csv(tmp_path / "runs.csv", index=False)
    out = tmp_path / "out"
    assert main(["fit", str(tmp_path / "runs.csv"), "--out", str(out), "--bootstrap", "0",
                 "--jobs", "1"]) == 0
    assert (out / "fit.json").exists() and (out / "report.md").exists()
    assert list(out.glob("*.png"))


def test_a_grid_too_small_to_resolve_anything_is_told_so_instead_of_simulated(tmp_path):
    """3 sizes x 3 scratch D (9 points: a 5-parameter Chinchilla cross-fit needs 15) and 2 sizes x
    2 D_F (4 law points: a law needs 9): neither the cross-fit nor the planner's simulation is run,
    and fit.json and the report say why; the main surface and the law are still fitted."""
    spec = SweepSpec(sizes=(1e5, 1e6, 1e7), scratch_d=(1e6, 1e7, 1e8), d_f=(1e5, 1e6))
    r = make_sweep(3, spec)
    keep = (r.init == "scratch") | (r.n >= 1e6)
    pd.DataFrame({"N": r.n[keep], "D": r.d[keep], "init": r.init[keep], "loss": r.loss[keep]}).to_csv(
        tmp_path / "runs.csv", index=False)
    out = tmp_path / "out"
    assert main(["fit", str(tmp_path / "runs.csv"), "--out", str(out), "--bootstrap", "0", "--jobs", "1",
                 "--no-figures", "--plan-draws", "8"]) == 0
    fit = json.loads((out / "fit.json").read_text())
    assert set(fit["scratch"]["params"]) == {"alpha_N", "alpha_D", "N_c", "D_c"}
    cross = fit["scratch_forms"]["chinchilla"]
    assert cross["status"] == "not_fitted" and cross["params"] == {} and cross["n_points"] == 9
    assert cross["verdict"] == {"verdict": "not measured", "reason": cross["message"]}
    assert "9 scratch points for 5 parameters: a cross-fit needs 15" in cross["message"]
    law = fit["transfer"]["text"]
    assert law["status"] == "ok" and law["n_points"] == 4
    assert fit["planner"]["draws"] == 0 and fit["planner"]["sources"] == {}
    assert "4 usable points for 3 parameters, fewer than the 9" in fit["planner"]["skipped"]["text"]
    report = (out / "report.md").read_text()
    assert "Other form chinchilla: not measured: 9 scratch points" in report
    assert "- `text`: not simulated: this grid gives the law 4 usable points" in report

"""The public API (`import transfer_laws`): what a notebook calls, and what the CLI verbs are a thin
layer over. Fitted on the committed v2 demo runs (docs/results/demo-v2/runs.csv), so every number is one
the fitter gives for real runs."""
from __future__ import annotations

import importlib.metadata
import json
import math
from pathlib import Path

import pandas as pd
import pytest

import transfer_laws as tl
from transfer_laws.flows.cli import main

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "docs" / "results" / "demo-v2" / "runs.csv"  # its law is degenerate: a verdict to test


@pytest.fixture(scope="module")
def demo_fit() -> tl.Fit:
    return tl.fit(RUNS, bootstrap=20, seed=0, jobs=1)


def test_the_package_has_one_version_everywhere():
    assert tl.__version__ == importlib.metadata.version("transfer-laws")
    assert set(tl.__all__) >= {"fit", "predict", "plan", "load_config", "run", "runs", "Fit"}


def test_a_dataframe_fits_as_its_csv_does_and_the_cli_writes_the_same_fit(demo_fit, tmp_path):
    from_frame = tl.fit(pd.read_csv(RUNS), bootstrap=20, seed=0, jobs=1)
    assert from_frame.data["transfer"] == demo_fit.data["transfer"]
    assert main(["fit", str(RUNS), "--out", str(tmp_path), "--bootstrap", "20", "--jobs", "1",
                 "--no-figures"]) == 0
    written = json.loads((tmp_path / "fit.json").read_text())
    assert written["transfer"] == demo_fit.data["transfer"]
    assert written["scratch"] == demo_fit.data["scratch"]


def test_report_writes_the_files_and_names_the_version(demo_fit, tmp_path):
    report = demo_fit.report(tmp_path / "out")
    out = report.parent
    for name in ("fit.json", "points.csv", "report.md", "bootstrap_samples.csv", "scratch_surface.png",
                 "fraction_vs_N.png", "multiplier_vs_D_F.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "fit.json").read_text())["version"] == tl.__version__
    assert f"transfer-laws {tl.__version__}" in report.read_text().splitlines()[2]
    assert json.loads(demo_fit.to_json())["transfer"] == demo_fit.data["transfer"]


def test_table1_gives_each_law_with_its_interval_and_verdict(demo_fit):
    table = demo_fit.table1()
    assert list(table.source) == ["code"]
    row = table.iloc[0]
    law = demo_fit.laws["code"]
    assert row.alpha == law.alpha and (row.alpha_lo, row.alpha_hi) == law.ci95["alpha"]
    assert row.alpha_lo <= row.alpha <= row.alpha_hi
    # The demo's law explains 6 % of ln D_T's spread: a number came out, a law did not
    assert row.verdict == law.verdict == "degenerate" and "R² of ln D_T 0.0624" in row.reason
    assert not row.alpha_resolved and not row.beta_resolved and law.verdicts == dict.fromkeys(
        ("k", "alpha", "beta"), "degenerate")
    assert len(demo_fit.points) == len(pd.read_csv(RUNS))


def test_a_law_of_a_fit_json_older_than_verdicts_is_judged_by_its_intervals():
    """paper-cpu-v1's laws with their verdicts taken away, as fit.json was written before verdicts: each
    loads through the typed entry with no verdict, and `resolved` falls back on whether the 95 %
    interval excludes 0 (text's alpha does; with its verdict, degenerate, it is not resolved)."""
    from transfer_laws.tasks.fitting.results import TransferLaw

    fit = json.loads((REPO / "docs" / "results" / "paper-cpu-v1" / "fit.json").read_text())
    for source, entry in fit["transfer"].items():
        old = tl.Law.of(source, TransferLaw.from_json({k: v for k, v in entry.items()
                                                       if k not in ("verdict", "verdicts")}))
        assert (old.verdict, old.reason, old.verdicts, old.status) == ("", "", {}, "ok")
        for name in ("alpha", "beta"):
            lo, hi = entry["ci95"][name]
            assert old.ci95[name] == (lo, hi) and old.resolved(name) == (lo > 0 or hi < 0)
        judged = tl.Law.of(source, TransferLaw.from_json(entry))
        assert judged.verdict == "degenerate" and not judged.resolved("alpha")
    text = fit["transfer"]["text"]["ci95"]["alpha"]
    assert text[0] > 0  # so the fallback above resolved an alpha that its verdict does not


def test_predict_is_the_law_and_reads_a_written_fit(demo_fit, tmp_path):
    law = demo_fit.laws["code"]
    pred = tl.predict(demo_fit, n=1e6, d_f=1e4)
    assert pred.d_t == pytest.approx(law.k * 1e4 ** law.alpha * 1e6 ** law.beta, rel=1e-9)
    assert pred.multiplier == pytest.approx(1 + pred.d_t / 1e4)
    assert pred.d_t_ci95[0] < pred.d_t < pred.d_t_ci95[1]
    demo_fit.report(tmp_path, figures=False)
    assert tl.predict(tmp_path / "fit.json", 1e6, 1e4).d_t == pytest.approx(pred.d_t, rel=1e-12)


def test_predict_says_how_far_it_extrapolates_and_refuses_beyond_two_decades(demo_fit):
    """The demo's law was fitted on N 3.3e3-1.0e5 and D_F 300-3e4."""
    inside = tl.predict(demo_fit, n=1e4, d_f=1e3)
    assert inside.extrapolation_decades == 0 and "extrapolation" not in inside.note
    assert inside.fitted_n == (3312.0, 100096.0) and inside.fitted_d_f == (300.0, 30000.0)
    near = tl.predict(demo_fit, n=1e6, d_f=1e3)
    assert near.extrapolation_decades == pytest.approx(1.0, abs=0.01) and "1.0 decades beyond" in near.note
    for kwargs, field in ((dict(n=1e8, d_f=1e3), "n"), (dict(n=1e4, d_f=1e-3), "d_f")):
        with pytest.raises(tl.InputError) as e:
            tl.predict(demo_fit, **kwargs)
        assert (e.value.field, e.value.value) == (field, kwargs[field]) and "extrapolate" in e.value.fix
    far = tl.predict(demo_fit, n=1e8, d_f=1e3, extrapolate=True)
    assert far.extrapolation_decades == pytest.approx(3.0, abs=0.01) and "3.0 decades beyond" in far.note
    assert far.d_t == pytest.approx(demo_fit.laws["code"].k * 1e3 ** demo_fit.laws["code"].alpha
                                    * 1e8 ** demo_fit.laws["code"].beta, rel=1e-9)


def test_bad_input_names_the_argument_the_value_and_the_fix(demo_fit):
    with pytest.raises(tl.InputError) as e:
        tl.predict(demo_fit, n=-1, d_f=1e4)
    assert (e.value.field, e.value.value) == ("n", -1) and "n=1e6" in e.value.fix
    with pytest.raises(tl.InputError) as e:
        tl.predict(demo_fit, n=1e6, d_f=1e4, source="nope")
    assert e.value.field == "source" and "code" in e.value.problem
    with pytest.raises(tl.InputError) as e:
        tl.fit(pd.read_csv(RUNS).drop(columns=["loss"]), bootstrap=0)
    assert e.value.field == "column loss"
    with pytest.raises(tl.InputError) as e:
        tl.fit(RUNS, bootstrap=-1)
    assert e.value.field == "bootstrap"


def test_the_cli_names_its_flags_where_the_api_names_arguments(demo_fit, tmp_path, capsys):
    demo_fit.report(tmp_path, figures=False)
    assert main(["predict", "--fit", str(tmp_path / "fit.json"), "--n", "-1", "--d-f", "1e4"]) == 2
    assert "predict: error: --n = -1.0: must be a finite positive number. Fix: e.g. --n 1e6" in capsys.readouterr().err


def test_figures_are_open_matplotlib_figures(demo_fit):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    figs = demo_fit.figures()
    assert {"scratch_surface.png", "fraction_vs_N.png"} <= set(figs)
    assert all(isinstance(f, Figure) and f.axes for f in figs.values())
    for f in figs.values():
        plt.close(f)


def test_configs_load_by_path_or_bundled_name():
    by_name = tl.load_config("demo")
    assert by_name == tl.load_config(REPO / "configs" / "demo.yaml") == tl.load_config("demo.yaml")
    with pytest.raises(tl.InputError) as e:
        tl.load_config("no-such-config")
    assert "demo" in e.value.fix and "paper-cpu" in e.value.fix


def test_plan_predicts_intervals_for_a_grid(tmp_path):
    result = tl.plan("demo", draws=8, seed=0, home=tmp_path)
    pred = result.prediction.sources["code"]
    assert result.prior.label and math.isfinite(pred.width["beta"]) and pred.width["beta"] > 0
    with pytest.raises(tl.InputError) as e:
        tl.plan("demo", draws=2, home=tmp_path)
    assert e.value.field == "draws"


def test_runs_refuses_a_folder_without_a_store(tmp_path):
    with pytest.raises(tl.InputError) as e:
        tl.runs("micro", home=tmp_path)
    assert e.value.field == "home" and "mlflow.db" in e.value.problem

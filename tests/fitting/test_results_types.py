"""fit.json's types (tasks/fitting/results.py): every committed fit.json reads and writes back unchanged,
an older one without verdicts still loads, the statuses the fitters write are FitStatus values, and
docs/fit-json.md names every key."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from transfer_laws.tasks.fitting.results import FitReport, FitStatus, Multiplier, ScratchFit, TransferLaw
from transfer_laws.tasks.fitting.transfer import fit_transfer_arrays
from transfer_laws.tasks.fitting.verdicts import Judgement, Verdict

REPO = Path(__file__).resolve().parents[2]
COMMITTED = sorted((REPO / "docs" / "results").glob("*/fit.json"))
OLDEST = REPO / "docs" / "results" / "paper-cpu-v1" / "fit.json"  # before version, multiplier, noise, grid


def _without_verdicts(fit: dict) -> dict:
    """The fit.json as written before verdicts existed."""
    strip = ("verdict", "verdicts")
    return {**fit, "scratch": {k: v for k, v in fit["scratch"].items() if k not in strip},
            "scratch_forms": {n: {k: v for k, v in f.items() if k not in strip} for n, f in fit["scratch_forms"].items()},
            "transfer": {s: {k: v for k, v in t.items() if k not in strip} for s, t in fit["transfer"].items()}}


def test_every_result_is_committed():
    assert {p.parent.name for p in COMMITTED} >= {"demo", "demo-bpe", "paper-cpu", "paper-cpu-v1"}


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.parent.name)
def test_a_committed_fit_json_reads_and_writes_back_unchanged(path):
    data = json.loads(path.read_text())
    report = FitReport.from_json(data)
    assert report.to_json() == data
    assert list(report.to_json()) == list(data)  # the top-level order too
    assert list(report.to_json()["scratch"]) == list(data["scratch"])
    assert isinstance(report.scratch.status, FitStatus) and isinstance(report.scratch.verdict, Judgement)
    for source, law in report.transfer.items():
        assert isinstance(law.status, FitStatus) and law.k == data["transfer"][source]["k"]
        assert isinstance(law.verdict.verdict, Verdict)
        assert set(law.verdicts) == {"k", "alpha", "beta"}
        assert all(ci is None or isinstance(ci, tuple) for ci in law.ci95.values())
    for source, m in (report.multiplier or {}).items():
        assert m.d_f == data["multiplier"][source]["D_F"] and m.resolved == data["multiplier"][source]["resolved"]


def test_the_file_a_fit_writes_is_the_text_of_its_to_json():
    """demo/fit.json was written by this version: its text is the types' JSON, key for key in order."""
    text = (REPO / "docs" / "results" / "demo" / "fit.json").read_text()
    assert json.dumps(FitReport.from_json(json.loads(text)).to_json(), indent=1, allow_nan=False) == text


def test_an_older_fit_json_without_verdicts_still_loads():
    old = _without_verdicts(json.loads(OLDEST.read_text()))
    report = FitReport.from_json(old)
    assert report.version is None and report.multiplier is None and report.noise is None and report.grid is None
    assert report.scratch.verdict is None
    for law in report.transfer.values():
        assert law.verdict is None and law.verdicts is None and law.fitted_range is None
        assert law.status is FitStatus.OK and law.ci95["alpha"][0] <= law.alpha <= law.ci95["alpha"][1]
    assert report.to_json() == old  # nothing invented on the way back


def test_a_law_typed_by_hand_takes_the_defaults():
    """The paper's Table 1 law, as a user types it: k, alpha, beta and nothing else."""
    law = TransferLaw.from_json({"k": 1.9e4, "alpha": 0.18, "beta": 0.38, "status": "ok"})
    assert (law.n_points, law.k_units, law.ci95, law.cov_lnk_alpha_beta, law.verdict) == (0, "tokens", {}, None, None)
    assert TransferLaw.from_json({}).status is FitStatus.NOT_FITTED  # nothing says it was fitted
    assert ScratchFit.from_json({"form": "kaplan", "params": {}}).status is FitStatus.OK
    with pytest.raises(KeyError):  # the aggregate's failure record is no fit
        FitReport.from_json({"status": "failed", "error": "no runs", "transfer": {}, "n_runs": 0})
    with pytest.raises(ValueError):
        TransferLaw.from_json({"status": "converged"})


def test_the_statuses_the_fitters_write_are_fit_statuses():
    few = fit_transfer_arrays(np.array([1e6, 2e6]), np.array([1e5, 1e5]), np.array([1e4, 2e4]))
    assert FitStatus(few.status) is FitStatus.TOO_FEW_POINTS
    assert json.dumps({"status": FitStatus.NOT_FITTED}) == '{"status": "not_fitted"}'


def test_the_schema_document_names_every_key_and_value():
    doc = (REPO / "docs" / "fit-json.md").read_text()
    for kind in (FitReport, ScratchFit, TransferLaw, Multiplier):
        for f in fields(kind):
            key = f.metadata.get("key", f.name)
            assert f"| `{key}` |" in doc, f"{kind.__name__}.{f.name}"
    for value in [s.value for s in FitStatus] + [v.value for v in Verdict]:
        assert f"| `{value}` |" in doc, value
    assert "fit-json.md" in (REPO / "docs" / "interface.md").read_text()

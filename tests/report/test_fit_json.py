"""The report on fit.json's types: every committed fit.json, its verdicts taken away, gets the very same
verdicts back from `judged` (a committed fit.json and a fresh one are judged alike), and the headline,
which reads the typed laws and multipliers, states each committed law's verdict."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from transfer_laws.tasks.fitting.results import FitReport
from transfer_laws.tasks.report.fit import headline_md, judged

COMMITTED = sorted((Path(__file__).resolve().parents[2] / "docs" / "results").glob("*/fit.json"))


def _without_verdicts(fit: dict) -> dict:
    """The fit.json as written before verdicts existed."""
    strip = ("verdict", "verdicts")
    return {**fit, "scratch": {k: v for k, v in fit["scratch"].items() if k not in strip},
            "scratch_forms": {n: {k: v for k, v in f.items() if k not in strip} for n, f in fit["scratch_forms"].items()},
            "transfer": {s: {k: v for k, v in t.items() if k not in strip} for s, t in fit["transfer"].items()}}


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.parent.name)
def test_judging_a_committed_fit_json_again_gives_its_verdicts(path: Path):
    committed = json.loads(path.read_text())
    assert judged(FitReport.from_json(_without_verdicts(committed))).to_json() == committed


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.parent.name)
def test_the_headline_states_each_committed_law_and_multiplier(path: Path):
    fit = json.loads(path.read_text())
    text = "\n".join(headline_md(fit))
    for source, law in fit["transfer"].items():
        assert f"`{source}` law D_T = k D_F^alpha N^beta" in text
        assert f"**Law {law['verdict']['verdict']}**: {law['verdict']['reason']}." in text
        assert "Verdict." not in text and "FitStatus." not in text  # values, never enum names
    for source, m in (fit.get("multiplier") or {}).items():
        assert ("resolved above 1." if m["resolved"] else "unresolved") in text

"""The published CPU-scale results (docs/results/paper-cpu/, paper-cpu-v1/, demo/, demo-bpe/) are what the code
computes: refitting each committed runs table with `transfer-laws fit` (same seed, same resamples) gives the committed
fit.json back, so the numbers in docs/results.md cannot drift from the fitter."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from transfer_laws.flows.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs" / "results"


def _close(a, b, path: str = "") -> list[str]:
    """Paths where two fit.json values differ beyond float noise (1e-6 relative)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in
                (_close(a.get(k), b.get(k), f"{path}.{k}") if k in a and k in b else [f"{path}.{k} missing"])]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _close(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return [] if a is b else [f"{path}: {a} != {b}"]
        if math.isnan(a) and math.isnan(b):
            return []
        return [] if math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _missing(old, new, path: str = "", depth: int = 3) -> list[str]:
    """Key paths of the committed fit.json that the refit lacks (new keys are allowed)."""
    if not isinstance(old, dict) or not depth:
        return []
    if not isinstance(new, dict):
        return [path]
    return [m for k in old for m in ([f"{path}.{k}"] if k not in new
                                     else _missing(old[k], new[k], f"{path}.{k}", depth - 1))]


@pytest.mark.parametrize("name", [
    "demo",  # `make test`: the committed demo; the others (1.6 min and more each): `make test-slow`
    pytest.param("paper-cpu", marks=pytest.mark.slow),
    pytest.param("paper-cpu-v1", marks=pytest.mark.slow),  # the history run
    pytest.param("demo-bpe", marks=pytest.mark.slow),  # the demo with a BPE of 1024 tokens
])
def test_refitting_the_committed_runs_gives_the_committed_fit(tmp_path, name):
    """Bit for bit where the floating point is that of the machine that made the fit; elsewhere
    as well as the fit's conditioning allows. Measured on 2026-12-02: this machine's OpenBLAS
    picks other kernels (AVX-512) than the one that wrote fit.json; with OPENBLAS_CORETYPE=Haswell
    the refit's point estimates match to 1e-9, without it the flat valley of the Kaplan surface
    (D_c from 3.7e8 to 6.1e8 at 0.2 % of objective) moves text+code's alpha from 0.15 to 0.26,
    inside its 95 % interval (-0.10 to 0.68). So: the same structure; an optimum at least as good
    and within 1 %; every law parameter inside the committed interval; the same verdicts."""
    RESULTS = DOCS / name
    committed = json.loads((RESULTS / "fit.json").read_text())
    n = committed["bootstrap"]["n_resamples"]
    seed = committed["bootstrap"]["seed"]
    out = tmp_path / "refit"
    assert main(["fit", str(RESULTS / "runs.csv"), "--out", str(out), "--bootstrap", str(n),
                 "--seed", str(seed), "--no-figures"]) == 0
    refit = json.loads((out / "fit.json").read_text())
    keys = ("scratch", "scratch_forms", "transfer", "bootstrap", "rollout", "multiplier")
    assert [m for k in keys for m in _missing(committed.get(k), refit.get(k), k)] == []
    diffs = [d for k in keys if k in committed for d in _close(committed[k], refit.get(k), k)]
    if not diffs:
        return  # the same floating point: the very same numbers
    obj_c, obj_r = committed["scratch"]["objective"], refit["scratch"]["objective"]
    assert obj_c * (1 - 0.01) <= obj_r <= obj_c * (1 + 1e-6), (obj_c, obj_r)
    boot_c, boot_r = dict(committed["bootstrap"]), dict(refit["bootstrap"])
    failed_c, failed_r = boot_c.pop("n_failed", 0), boot_r.pop("n_failed", 0)
    assert boot_r == boot_c
    # A resample at the edge of the fitter's bounds may fail under one machine's floating point and
    # not another's (measured at 2026-12-03: 1 of 1000 on paper-cpu): a few, never a share.
    assert abs(failed_r - failed_c) <= 0.01 * n, (failed_c, failed_r)
    for source in committed["transfer"]:
        law, new = committed["transfer"][source], refit["transfer"][source]
        assert new["status"] == law["status"] == "ok"
        assert new["verdict"]["verdict"] == law["verdict"]["verdict"], source  # tasks/fitting/verdicts.py
        assert abs(new["n_points"] - law["n_points"]) <= 2, source
        for key in ("k", "alpha", "beta"):
            lo, hi = law["ci95"][key]
            assert math.isfinite(law[key]) and lo <= new[key] <= hi, (source, key, new[key], lo, hi)
            lo_r, hi_r = new["ci95"][key]
            spans_zero = key != "k" and lo <= 0 <= hi
            assert spans_zero == (key != "k" and lo_r <= 0 <= hi_r), (source, key)  # same verdict
    for source, m in committed.get("multiplier", {}).items():  # the headline: same verdict
        assert refit["multiplier"][source]["resolved"] == m["resolved"], source
        lo, hi = m["ci95"]
        assert lo <= refit["multiplier"][source]["estimate"] <= hi, source

"""The published CPU-scale result (docs/results/paper-cpu/) is what the code computes: refitting the
committed runs table with `transfer-laws fit` (same seed, same resamples) gives the committed
fit.json back, so the numbers in docs/results.md cannot drift from the fitter."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from flows.cli import main

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "paper-cpu"


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


def test_refitting_the_committed_runs_gives_the_committed_fit(tmp_path):
    committed = json.loads((RESULTS / "fit.json").read_text())
    n = committed["bootstrap"]["n_resamples"]
    seed = committed["bootstrap"]["seed"]
    out = tmp_path / "refit"
    assert main(["fit", str(RESULTS / "runs.csv"), "--out", str(out), "--bootstrap", str(n),
                 "--seed", str(seed), "--no-figures"]) == 0
    refit = json.loads((out / "fit.json").read_text())
    keys = ("scratch", "scratch_forms", "transfer", "bootstrap", "rollout")
    diffs = [d for k in keys for d in _close(committed.get(k), refit.get(k), k)]
    assert not diffs, "\n".join(diffs[:20])
    for source in ("text", "text+code"):
        law = committed["transfer"][source]
        for key in ("k", "alpha", "beta"):
            assert math.isfinite(law[key]) and len(law["ci95"][key]) == 2, (source, key)

"""The units identity: within one tokenizer, fitting the transfer law with D counted in UTF-8 bytes
instead of tokens leaves alpha and beta where they were and moves k to k_tokens r^(1 - alpha),
r = bytes per token; fit.json's k_bytes (from the token fit) is that k."""
from __future__ import annotations

import pandas as pd
import pytest

from transfer_laws.flows.api import fit
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.fitting.synthetic import SweepSpec, make_sweep

BYTES_PER_TOKEN = 3.7


def table() -> pd.DataFrame:
    runs = make_sweep(0, SweepSpec())
    return pd.DataFrame({"N": runs.n, "D": runs.d, "init": runs.init, "loss": runs.loss,
                         "D_bytes": runs.d * BYTES_PER_TOKEN})


@pytest.mark.refit
def test_a_fit_in_bytes_keeps_alpha_and_beta_and_moves_k_by_the_identity():
    df = table()
    tokens = fit(df, bootstrap=0, jobs=1).data
    in_bytes = fit(df, unit="bytes", bootstrap=0, jobs=1).data
    t, b = tokens["transfer"]["text"], in_bytes["transfer"]["text"]
    assert t["status"] == b["status"] == "ok" and (t["k_units"], b["k_units"]) == ("tokens", "bytes")
    assert b["alpha"] == pytest.approx(t["alpha"], abs=2e-3) and b["beta"] == pytest.approx(t["beta"], abs=2e-3)
    assert t["k_bytes"] == pytest.approx(t["k"] * BYTES_PER_TOKEN ** (1 - t["alpha"]), rel=1e-9)
    assert b["k"] == pytest.approx(t["k_bytes"], rel=0.02)  # the refit in bytes lands on the identity
    assert tokens["checklist"]["data_units"]["bytes_per_token"] == pytest.approx(BYTES_PER_TOKEN)
    assert "k_bytes" not in b  # already in bytes
    from transfer_laws.tasks.report.fit import summary_md

    assert "e+09 bytes give the loss surface" in summary_md(in_bytes) and " tokens" not in summary_md(in_bytes)


def test_bytes_without_a_d_bytes_column_is_refused_naming_the_fix():
    with pytest.raises(InputError, match="unit = 'bytes': needs a D_bytes column"):
        fit(table().drop(columns="D_bytes"), unit="bytes", bootstrap=0, jobs=1)

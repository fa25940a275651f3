"""Runs CSV validation: each bad input is an InputError naming the row or column."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.report.runs_csv import exclude_top_loss, read_runs, resamples_for, to_runs, validate_runs


def good_table() -> pd.DataFrame:
    n, d = (a.ravel() for a in np.meshgrid([1e4, 1e5, 1e6], [1e5, 1e6, 1e7], indexing="ij"))
    scratch = pd.DataFrame({"N": n, "D": d, "init": "scratch", "loss": 3 + 1e3 / d ** 0.3})
    ft = pd.DataFrame({"N": n, "D": d / 10, "init": "text", "loss": 2.5 + 1e3 / d ** 0.3})
    return pd.concat([scratch, ft], ignore_index=True).assign(extra_column="kept")


def test_good_table_passes_and_keeps_unknown_columns():
    df = validate_runs(good_table())
    assert len(df) == 18 and "extra_column" in df.columns
    runs = to_runs(df)
    assert runs.sources == ["text"] and runs.scratch.sum() == 9


@pytest.mark.parametrize("column", ["N", "D", "init", "loss"])
def test_missing_column(column):
    with pytest.raises(InputError, match=f"column {column}"):
        validate_runs(good_table().drop(columns=column))


@pytest.mark.parametrize("column,value,problem", [
    ("loss", np.nan, "not a number"), ("N", "abc", "not a number"), ("D", 0.0, "positive"),
    ("N", -5.0, "positive"), ("loss", 0.0, "positive"), ("loss", np.inf, "positive")])
def test_bad_values_name_the_row(column, value, problem):
    df = good_table().astype({column: object})
    df.loc[4, column] = value
    with pytest.raises(InputError, match=problem) as err:
        validate_runs(df)
    assert err.value.field == f"row 5 (file line 6) column {column}"


def test_empty_init_names_the_row():
    df = good_table()
    df.loc[2, "init"] = " "
    with pytest.raises(InputError, match="row 3"):
        validate_runs(df)


def test_too_few_scratch_runs_says_how_many_are_needed():
    df = good_table()
    df = df[(df["init"] != "scratch") | (df.index < 4)]
    with pytest.raises(InputError, match=">= 6 scratch runs") as err:
        validate_runs(df, form="chinchilla")
    assert "4 runs" in str(err.value)
    validate_runs(good_table(), form="chinchilla")  # the full table is enough


def test_too_few_sizes():
    df = good_table()
    df = df[df["N"] == 1e4]
    with pytest.raises(InputError, match="model sizes"):
        validate_runs(df, form="kaplan", transfer="no")


def test_too_few_fine_tuned_runs_for_the_law():
    df = good_table()
    df = df[(df["init"] == "scratch") | (df.index == 10)]
    with pytest.raises(InputError, match="init = text"):
        validate_runs(df)
    validate_runs(df, transfer="no")


def test_only_scratch_rows_when_transfer_is_asked():
    df = good_table()
    df = df[df["init"] == "scratch"]
    validate_runs(df)  # auto: a scratch-only fit is fine
    with pytest.raises(InputError, match="no fine-tuned runs"):
        validate_runs(df, transfer="yes")


def test_conflicting_duplicates_are_an_error_exact_ones_are_dropped():
    df = good_table()
    dup = pd.concat([df, df.iloc[[3]]], ignore_index=True)
    assert len(validate_runs(dup)) == len(df)
    dup.loc[len(dup) - 1, "loss"] += 0.1
    with pytest.raises(InputError, match="different losses") as err:
        validate_runs(dup)
    assert "rows 4, 19" in err.value.field
    dup["run_key"] = [f"r{i}" for i in range(len(dup))]  # distinct replicates are allowed
    assert len(validate_runs(dup)) == len(dup)


def test_exclude_top_loss_drops_highest_scratch_losses():
    df = validate_runs(good_table())
    kept, dropped = exclude_top_loss(df, 2)
    assert len(kept) == len(df) - 2
    assert (dropped["init"] == "scratch").all()
    assert dropped["loss"].min() >= kept[kept["init"] == "scratch"]["loss"].max()


def test_unreadable_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_runs(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="not a readable CSV"):
        read_runs(tmp_path / "empty.csv")


def test_the_default_resample_count_grows_with_the_points_fitted():
    """15 per point (seeds averaged into their point, zero-shot rows not resampled), 1000 to 4000;
    an explicit count is kept as given."""
    small = good_table()  # 18 points
    seeds = pd.concat([small, small.assign(loss=small.loss * 1.01)], ignore_index=True)  # 2 seeds a point
    zero_shot = pd.concat([small, pd.DataFrame({"N": [1e4], "D": [0], "init": ["text"], "loss": [3.0]})])
    assert resamples_for(small, None) == resamples_for(seeds, None) == resamples_for(zero_shot, None) == 1000
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e4, 1e6, 10), np.geomspace(1e5, 1e7, 10)))
    big = pd.DataFrame({"N": n, "D": d, "init": "scratch", "loss": 3.0})  # 100 points
    assert resamples_for(big, None) == 1500
    assert resamples_for(pd.concat([big.assign(init=str(i)) for i in range(4)]), None) == 4000  # 400 points
    assert resamples_for(big, 20) == 20 and resamples_for(big, 0) == 0

"""Load and validate a runs CSV (docs/interface.md "Runs CSV"): every bad input is an InputError naming
the row or column, raised before any fitting starts.

Columns: N, D, init, loss (required); D_chars, D_bytes, run_key, seed, best_step, best_epoch, flops,
params_total (optional); any other column is kept and ignored. A fine-tuned row (init = a source)
with D = 0 is a zero-shot run: the pre-trained model's held-out loss before any fine-tuning. Rows of the same N, D and init are
replicates of one point (other seeds): the fitter averages them (tasks.fitting.noise).  Rows are reported 1-based as in a spreadsheet's
data rows; the file line is that number + 1 (the header is line 1).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.fitting.analysis import SCRATCH, Runs
from transfer_laws.tasks.fitting.bootstrap import auto_resamples
from transfer_laws.tasks.fitting.forms import SURFACES
from transfer_laws.tasks.fitting.zero_shot import zero_shot_table

REQUIRED = ("N", "D", "init", "loss")
OPTIONAL = ("D_chars", "D_bytes", "run_key", "seed", "best_step", "best_epoch", "flops", "params_total")
POSITIVE = ("N", "D", "loss")
OTHER_UNITS = ("D_chars", "D_bytes")  # D in other units: optional, dropped unless known on every row
# Scratch runs needed per form: parameters + 1 points, over >= 2 sizes and >= 2 data sizes.
MIN_SIZES, MIN_DATA_SIZES = 2, 2
# Fine-tuned runs needed per source for the law (3 parameters): points, sizes, D_F values.
MIN_LAW_POINTS, MIN_LAW_SIZES, MIN_LAW_DF = 3, 2, 2


def _row(i: int) -> str:
    return f"row {i + 1} (file line {i + 2})"


def read_runs(path: str | Path) -> pd.DataFrame:
    """Read the CSV; a missing or unparsable file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError("RUNS.csv", str(path), "no such file",
                         "give the path of a runs CSV with columns N, D, init, loss")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise InputError("RUNS.csv", str(path), "is a binary file, not a CSV",
                         "give the runs CSV (text: a header line N,D,init,loss and one line per run)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("RUNS.csv", str(path), f"is not UTF-8 text (byte {exc.start} cannot be "
                         "decoded)", "save the file as UTF-8 (CSV UTF-8 in a spreadsheet)") from None
    try:
        return pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError("RUNS.csv", str(path), f"not a readable CSV ({' '.join(str(exc).split())})",
                         "write one header line and one comma-separated line per run") from None


def min_scratch_points(form: str) -> int:
    return len(SURFACES[form].names) + 1


def validate_runs(df: pd.DataFrame, form: str = "kaplan", transfer: str = "auto"
                  ) -> pd.DataFrame:
    """A clean copy of `df` (exact duplicate rows dropped, index reset), or an InputError.

    transfer: "auto" (check the law's needs when fine-tuned rows exist), "yes" (a law fit is
    required), "no" (scratch surface only).
    """
    if form not in SURFACES:
        raise InputError("--form", form, "unknown form", f"use one of {sorted(SURFACES)}")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"column {missing[0]}", None, f"missing (the file has {list(df.columns)})",
                         "add the columns N, D, init, loss (docs/interface.md, Runs CSV)")
    if len(df) == 0:
        raise InputError("RUNS.csv", "0 rows", "the file has no runs", "add one line per run")
    df = df.reset_index(drop=True).copy()
    zero_ok = _zero_shot_rows(df)
    for col in POSITIVE + tuple(c for c in OTHER_UNITS if c in df.columns):
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        for i in np.flatnonzero(num.isna().to_numpy()):
            if col in OTHER_UNITS and pd.isna(raw.iloc[i]):
                continue
            raise InputError(f"{_row(i)} column {col}", raw.iloc[i], "not a number (NaN or text)",
                             f"give a positive number for {col} on every row")
        allowed_zero = zero_ok if col in ("D", *OTHER_UNITS) else np.zeros(len(df), bool)
        bad = np.flatnonzero(((num <= 0).to_numpy() & ~((num == 0).to_numpy() & allowed_zero))
                             | np.isinf(num.to_numpy()))
        if len(bad):
            i = bad[0]
            raise InputError(f"{_row(i)} column {col}", float(num.iloc[i]),
                             "must be a finite positive number" + (" (0 only on a zero-shot row, whose init "
                                                                   "names a source)" if col == "D" else ""),
                             f"fix or remove the run; {col} is used on a log scale")
        df[col] = num.astype(float)
    for col in OTHER_UNITS:
        if col in df.columns and df[col].isna().any():
            df = df.drop(columns=col)  # another unit only when known for every run
    init = df["init"]
    for i in np.flatnonzero(init.isna().to_numpy() | (init.astype(str).str.strip() == "")):
        raise InputError(f"{_row(i)} column init", init.iloc[i], "empty",
                         "write 'scratch' or the name of the pre-training source")
    df["init"] = init.astype(str).str.strip()
    df = _check_duplicates(df)
    _check_counts(df, form, transfer)
    return df


def _zero_shot_rows(df: pd.DataFrame) -> np.ndarray:
    """Rows that may have D = 0: those whose init names a source (not scratch, not empty)."""
    init = df["init"].astype(str).str.strip()
    return (df["init"].notna() & (init != "") & (init != SCRATCH)).to_numpy()


def _check_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["N", "D", "init"] + [c for c in ("run_key", "seed") if c in df.columns]
    dup = df.duplicated(subset=keys, keep=False)
    for _, grp in df[dup].groupby(keys, sort=False, dropna=False):
        losses = grp["loss"].to_numpy()
        if not np.allclose(losses, losses[0], rtol=1e-12, atol=0):
            rows = ", ".join(str(i + 1) for i in grp.index)
            raise InputError(f"rows {rows}", [float(x) for x in losses], "the same run (" + ", ".join(
                f"{k}={grp[k].iloc[0]}" for k in keys) + ") appears with different losses",
                "keep one row per run, or give replicates distinct seed (or run_key) values")
    out = df.drop_duplicates(subset=keys, keep="first").reset_index(drop=True)
    out.attrs["exact_duplicates_dropped"] = (df.attrs.get("exact_duplicates_dropped", 0)
                                             + len(df) - len(out))
    return out


def _check_counts(df: pd.DataFrame, form: str, transfer: str) -> None:
    sc = df[df["init"] == SCRATCH]
    need = min_scratch_points(form)
    if len(sc) < need or sc["N"].nunique() < MIN_SIZES or sc["D"].nunique() < MIN_DATA_SIZES:
        raise InputError(
            "scratch runs", f"{len(sc)} runs, {sc['N'].nunique()} sizes, {sc['D'].nunique()} D",
            f"too few for the {form} form: it needs >= {need} scratch runs over >= {MIN_SIZES} "
            f"model sizes and >= {MIN_DATA_SIZES} data sizes",
            "add scratch runs (init = scratch) or use a form with fewer parameters")
    ft = df[(df["init"] != SCRATCH) & (df["D"] > 0)]
    if transfer == "yes" and ft.empty:
        raise InputError("column init", "only 'scratch'", "a transfer fit was asked but there are "
                         "no fine-tuned runs", "add runs whose init names the pre-training source,"
                         " or fit without --transfer yes")
    if transfer == "no":
        return
    for src, grp in ft.groupby("init"):
        if (len(grp) < MIN_LAW_POINTS or grp["N"].nunique() < MIN_LAW_SIZES
                or grp["D"].nunique() < MIN_LAW_DF):
            raise InputError(
                f"init = {src}", f"{len(grp)} runs, {grp['N'].nunique()} sizes, "
                f"{grp['D'].nunique()} D_F values",
                f"too few fine-tuned runs for the law D_T = k D_F^alpha N^beta: it needs >= "
                f"{MIN_LAW_POINTS} runs over >= {MIN_LAW_SIZES} sizes and >= {MIN_LAW_DF} D_F values",
                "add fine-tuned runs, or pass --transfer no to fit the scratch surface only")


def exclude_top_loss(df: pd.DataFrame, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop the k highest-loss scratch runs (Besiroglu et al. drop 5); returns (kept, dropped)."""
    if k <= 0:
        return df, df.iloc[0:0]
    sc = df[df["init"] == SCRATCH]
    drop = sc.sort_values("loss", ascending=False, kind="stable").index[:k]
    return df.drop(index=drop).reset_index(drop=True), df.loc[drop]


def resamples_for(df: pd.DataFrame, bootstrap: int | None) -> int:
    """`bootstrap`, or where it is None the default for this table: `auto_resamples` of its points,
    each (N, D, init) once (seeds are averaged into their point; zero-shot rows are not resampled)."""
    if bootstrap is not None:
        return bootstrap
    fitted = df[pd.to_numeric(df["D"], errors="coerce") > 0]
    return auto_resamples(len(fitted.drop_duplicates(["N", "D", "init"])))


def in_unit(df: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The validated table with D counted in `unit`: tokens (as written), or UTF-8 bytes (D_bytes
    becomes D). Within one tokenizer alpha and beta do not depend on the unit, and
    k_bytes = k_tokens r^(1 - alpha), r = bytes per token (tests/fitting check both fits agree so)."""
    if unit == "tokens":
        return df
    if unit != "bytes":
        raise InputError("unit", unit, "is not a unit of D", "use tokens or bytes")
    if "D_bytes" not in df.columns:
        raise InputError("unit", unit, "needs a D_bytes column known on every row (the runs.csv of "
                         "a sweep has one)", "count D in tokens, or add D_bytes to the CSV")
    return df.assign(D=df["D_bytes"]).drop(columns="D_bytes")


def to_runs(df: pd.DataFrame, unit: str = "tokens") -> Runs:
    """The arrays the fitting package takes; zero-shot rows (D = 0) go to `Runs.zero_shot`.
    `unit`: what D counts (named by the figures)."""
    zs, df = df[df["D"] == 0], df[df["D"] > 0]
    def column(name: str) -> np.ndarray | None:
        return pd.to_numeric(df[name], errors="coerce").to_numpy(float) if name in df.columns else None

    return Runs(df["N"].to_numpy(float), df["D"].to_numpy(float), df["loss"].to_numpy(float),
                df["init"].to_numpy(str),
                df["D_chars"].to_numpy(float) if "D_chars" in df.columns else None, column("best_epoch"),
                column("best_step"),
                zero_shot_table(zs["N"], zs["init"], zs["loss"]) if len(zs) else None,
                column("D_bytes"), unit)

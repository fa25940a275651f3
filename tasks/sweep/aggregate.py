"""Units of the aggregate flow: export the runs from MLflow, fit and write the report, publish it.

The report folder is `HOME/reports/<experiment>/<hash>/` where the hash covers the runs table and the
fit options; `latest` points at the newest one. Same inputs -> same folder -> nothing recomputed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from transfer_laws.tasks.common import env
from transfer_laws.tasks.report.html import write_html
from transfer_laws.tasks.tracking import export, mlflow_store

# 2: the noise model and the planner's verdict; 3: the headline (measured multiplier); 4: the
# curve-form table, and the planner's usable points and scatter match; 5: verdicts, readable
# rollout and checklist, every figure linked with a caption, a glossary; 7: no cross-fit or planner
# simulation where the point count alone makes it degenerate (the reason instead)
REPORT_VERSION = 7
PLAN_DRAWS = 48  # simulated sweeps behind the report's "this grid resolves alpha to ±x" (~5-20 s)


@task(name="export-runs", cache_policy=NO_CACHE)
def export_runs(experiment: str, run_keys: list[str] | None, home: str | None,
                tracking_uri: str | None = None) -> dict:
    """Runs CSV (docs/interface.md columns) and pre-training curves, written beside the reports."""
    paths = env.project_paths(home)
    c, exp_id, all_runs = export.load_all(tracking_uri or paths.mlflow_uri, experiment, run_keys)
    table = export.runs_table(all_runs)
    curves = export.pretrain_curves(c, all_runs) if not all_runs.empty else []
    search = export.lr_search_table(all_runs)
    text = table.drop(columns=["mlflow_run_id"]).to_csv(index=False)
    if not search.empty:  # part of the report, so part of its identity
        text += search.to_csv(index=False)
    digest = hashlib.sha256(text.encode()).hexdigest()
    out = paths.home / "reports" / experiment
    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"runs-{digest[:12]}.csv"
    table.to_csv(csv, index=False)
    return {"runs_csv": str(csv), "digest": digest, "curves": curves, "n_runs": len(table),
            "lr_search": search.to_dict(orient="records"),
            "reports_dir": str(out), "experiment_id": exp_id}


@task(name="fit-and-report", cache_policy=NO_CACHE)
def fit_and_report(table: dict, form: str = "kaplan", bootstrap: int | None = None, seed: int = 0,
                   curve_form: str = "current", about: dict | None = None) -> dict:
    """Fit the runs table and write the report, unless the same report exists already."""
    from transfer_laws.tasks.common.errors import InputError
    from transfer_laws.tasks.fitting.analysis import AnalysisOptions
    from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
    from transfer_laws.tasks.fitting.robust import FitError
    from transfer_laws.tasks.report.fit import fit_runs
    from transfer_laws.tasks.report.runs_csv import read_runs, resamples_for, validate_runs

    log = get_run_logger()
    df = read_runs(table["runs_csv"])
    bootstrap = resamples_for(df, bootstrap)  # None: by the points fitted
    fit_options = [table["digest"], form, bootstrap, seed, REPORT_VERSION]
    if curve_form != "current":  # the default adds nothing to the key
        fit_options.append(curve_form)
    key = hashlib.sha256(json.dumps(fit_options).encode()).hexdigest()[:12]
    out = Path(table["reports_dir"]) / key
    latest = Path(table["reports_dir"]) / "latest"
    if (out / "fit.json").exists():
        log.info("report for these runs exists already: %s", out)
    else:
        options = AnalysisOptions(form=form, bootstrap=BootstrapOptions(n_resamples=bootstrap, seed=seed),
                                  curve_form=curve_form)
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)  # a leftover of a killed aggregation
        tmp.mkdir(parents=True)
        try:
            df = validate_runs(df, form=form)
            fit_runs(df, tmp, options, plan_draws=PLAN_DRAWS, about=about)
        except (FitError, InputError) as exc:  # the runs stay valid; the report says why no fit
            log.warning("no trustworthy fit: %s", exc)
            (tmp / "fit.json").write_text(json.dumps({"status": "failed", "error": str(exc),
                                                      "transfer": {}, "n_runs": len(df)}, indent=1))
            (tmp / "report.md").write_text(f"# Scaling-law fit\n\nNo trustworthy fit: {exc}\n")
        _sweep_figures(df, tmp, table["curves"])
        _link_unlinked_figures(tmp)
        (tmp / "runs.csv").write_text(Path(table["runs_csv"]).read_text())
        if table.get("lr_search"):
            _lr_search_section(pd.DataFrame(table["lr_search"]), tmp)
        write_html(tmp)  # after the sections above: the MLflow UI shows it in one click
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(out.name)
    fit = json.loads((out / "fit.json").read_text())
    return {"report_dir": str(out), "fit": fit, "n_runs": table["n_runs"]}


def _link_unlinked_figures(out: Path) -> None:
    """The sweep's own figures (drawn after the fit's report) get a section of their own."""
    from transfer_laws.tasks.report.fit import figures_md

    md = out / "report.md"
    text = md.read_text()
    unlinked = sorted(p.name for p in out.glob("*.png") if f"({p.name})" not in text)
    if unlinked:
        _add_section(md, figures_md(unlinked, "Figures of the sweep"))


def _add_section(md: Path, lines: list[str]) -> None:
    """Add a section to report.md before its glossary, which stays last."""
    head, glossary, tail = md.read_text().partition("\n## Glossary\n")
    md.write_text(head.rstrip("\n") + "\n" + "\n".join(lines) + "\n" + glossary + tail)


def _sweep_figures(df: pd.DataFrame, out: Path, curves: list[dict]) -> None:
    from transfer_laws.tasks.report.paper_figures import draw_all

    points_path = out / "points.csv"
    points = pd.read_csv(points_path) if points_path.exists() else None
    if points is not None and "D_E" not in points.columns:
        points = None
    if points is not None and "D_F" not in points.columns:
        points = points.rename(columns={"D": "D_F", "fraction_D_F_over_D_E": "fraction",
                                        "multiplier_D_E_over_D_F": "multiplier"})
        points = points[points["init"] != "scratch"]
    if points is not None:  # zero-shot rows (D_F = 0) have no place on a log axis of D_F
        points = points[points["D_F"] > 0]
    draw_all(df, points, out, curves=_pretrain_curves(curves, out))


def _pretrain_curves(rows: list[dict], out: Path) -> dict[str, list[tuple[int, float]]]:
    """Write the pre-training curves beside their figure (pretrain_curves.csv: how far from flat
    each run ended, readable from the report folder alone); return them labelled for the figure."""
    if not rows:
        return {}
    curves = pd.DataFrame(rows, columns=["N", "source", "step", "test_loss"])
    curves.to_csv(out / "pretrain_curves.csv", index=False)
    return {f"N={n:.1e} src={src}": list(zip(g.step, g.test_loss))
            for (n, src), g in curves.groupby(["N", "source"], sort=True)}


@task(name="publish-report", cache_policy=NO_CACHE)
def publish(report: dict, experiment: str, parent_run_id: str | None, home: str | None,
            tracking_uri: str | None = None) -> None:
    """Attach the report to the sweep's MLflow parent run and show it as Prefect artifacts."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    paths = env.project_paths(home)
    out = Path(report["report_dir"])
    if parent_run_id:
        c = mlflow_store.client(tracking_uri or paths.mlflow_uri)
        logged = {f.path for f in c.list_artifacts(parent_run_id)}
        if "report" not in logged or c.get_run(parent_run_id).data.tags.get("report_key") != out.name:
            c.log_artifacts(parent_run_id, str(out), artifact_path="report")
            c.set_tag(parent_run_id, "report_key", out.name)
    rows = []
    for src, t in report["fit"].get("transfer", {}).items():
        ci = t.get("ci95", {})
        rows.append({"source": src, "k": t.get("k"), "alpha": t.get("alpha"), "beta": t.get("beta"),
                     "alpha_ci95": ci.get("alpha"), "beta_ci95": ci.get("beta"),
                     "n_points": t.get("n_points"), "r2_log": t.get("r2_log")})
    if rows:
        create_table_artifact(table=rows, key="transfer-law", description="D_T = k D_F^alpha N^beta per source")
    md = out / "report.md"
    if md.exists():
        create_markdown_artifact(markdown=md.read_text()[:50000], key="transfer-report",
                                 description=f"report of {experiment}: {out}")


def _lr_search_section(search: pd.DataFrame, out: Path) -> None:
    """lr_search.csv and a report section: which fine-tuning lr each pre-trained model got, and
    how close the other candidates came (a chosen lr at the edge of the grid asks for a wider one)."""
    search.to_csv(out / "lr_search.csv", index=False)
    lines = ["", "## Fine-tuning learning rate, searched per size and source", "",
             f"Each candidate fine-tuned on D_F = {search.D.iloc[0]:.3g} held-out-of-the-fit tokens; "
             "the lowest best held-out loss (**bold**) set the lr of every fine-tune of that model.", "",
             "| source | N | lr | best loss |", "|---|---|---|---|"]
    for r in search.itertuples():
        mark = "**" if r.chosen else ""
        lines.append(f"| {r.source} | {r.N:.3g} | {mark}{r.lr:.3g}{mark} | {mark}{r.loss:.4f}{mark} |")
    edge = [f"{src} N={n:.3g}" for (src, n), g in search.groupby(["source", "N"])
            if g.chosen.iloc[0] or g.chosen.iloc[-1]]
    if edge:
        lines += ["", f"The chosen lr lies at the edge of the candidates for {', '.join(edge)}: a wider "
                  "search might find a better one."]
    _add_section(out / "report.md", lines)

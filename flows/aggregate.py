"""The aggregate flow: MLflow -> runs CSV -> fits -> report (fit.json, points.csv, report.md, figures)
-> artifacts of the sweep's MLflow parent run and Prefect artifacts. Composition only.

A rerun whose runs table is unchanged reuses the report on disk (keyed by a hash of the table and
the fit options), so re-running a finished sweep costs seconds, not a bootstrap.
"""
from __future__ import annotations

from prefect import flow

from transfer_laws.tasks.sweep.aggregate import export_runs, fit_and_report, publish


@flow(name="transfer-aggregate", log_prints=True)
def aggregate_flow(experiment: str, run_keys: list[str] | None = None, parent_run_id: str | None = None,
                   home: str | None = None, form: str = "kaplan", bootstrap: int | None = None,
                   seed: int = 0, tracking_uri: str | None = None, curve_form: str = "current",
                   about: dict | None = None) -> dict:
    """Fit the finished runs of `experiment` (only `run_keys`, a sweep's plan, when given) and report;
    the report is attached to `parent_run_id` when given. MLflow: `tracking_uri`, else the project's
    SQLite store. `bootstrap`: resamples for the intervals (None: 15 per point fitted, 1000-4000).
    `about`: what the report's title names (a sweep passes its name, target, sources and config hash)."""
    table = export_runs(experiment, run_keys, home, tracking_uri)
    report = fit_and_report(table, form=form, bootstrap=bootstrap, seed=seed, curve_form=curve_form,
                            about=about or {"sweep": experiment})
    publish(report, experiment, parent_run_id, home, tracking_uri)
    return report

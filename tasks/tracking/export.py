"""MLflow -> pandas: the runs table (docs/interface.md "Runs CSV") and the pre-training curves.

Only FINISHED runs with `best_test_loss` count. MLflow params are strings (pandas 3 StringDtype),
so every numeric column is converted explicitly.
"""
from __future__ import annotations

import pandas as pd

from transfer_laws.tasks.tracking import mlflow_store

KINDS = ("pretrain", "zeroshot", "scratch", "finetune", "lr-search")
RUNS_COLUMNS = ["N", "D", "init", "loss", "seed", "D_chars", "D_bytes", "bpb", "run_key", "best_step", "best_epoch",
                "flops", "params_total", "tokens_seen", "pretrain_flops", "source", "mlflow_run_id"]


def finished_runs(c, experiment_id: str, run_keys: list[str] | None = None) -> pd.DataFrame:
    """Finished training runs of the experiment; only those of `run_keys` when given (a sweep's
    plan: runs done by an earlier version of the sweep count too, whatever parent run they have)."""
    runs = c.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                         max_results=50000)
    wanted = set(run_keys) if run_keys is not None else None
    rows = []
    for r in runs:
        m, p, t = r.data.metrics, r.data.params, r.data.tags
        if t.get("kind") not in KINDS or "best_test_loss" not in m:
            continue
        if wanted is not None and t.get("run_key") not in wanted:
            continue
        rows.append({
            "kind": t["kind"], "source": t.get("source", ""), "target": t.get("target", ""),
            "run_key": t.get("run_key", ""), "parent_run_key": t.get("parent_run_key", ""),
            "mlflow_run_id": r.info.run_id, "N": float(p["params_non_embedding"]),
            "D": float(p["dataset_tokens"]), "D_chars": float(p.get("dataset_chars", "nan")),
            "D_bytes": float(p.get("dataset_bytes", "nan")), "bpb": m.get("best_test_bpb", float("nan")),
            "params_total": float(p["params_total"]), "loss": m["best_test_loss"],
            "best_step": m.get("best_step"), "best_epoch": m.get("best_epoch"),
            "flops": m.get("flops"), "tokens_seen": m.get("tokens_seen"), "lr": float(p.get("lr", "nan")),
            "seed": int(p.get("seed", 0)),
        })
    return pd.DataFrame(rows)


def runs_table(all_runs: pd.DataFrame) -> pd.DataFrame:
    """Target runs only (scratch, fine-tuned, and zero-shot at D = 0), with the pre-training compute
    of each fine-tune."""
    if all_runs.empty:
        return pd.DataFrame(columns=RUNS_COLUMNS)
    pre = all_runs[all_runs.kind == "pretrain"].set_index("run_key")["flops"]
    target = all_runs[all_runs.kind.isin(["scratch", "finetune", "zeroshot"])].copy()
    target["init"] = target.apply(lambda r: "scratch" if r.kind == "scratch" else r.source, axis=1)
    target["pretrain_flops"] = target.parent_run_key.map(pre).fillna(0.0)
    target = target.sort_values(["init", "N", "D"]).reset_index(drop=True)
    return target[RUNS_COLUMNS]


def lr_search_table(all_runs: pd.DataFrame) -> pd.DataFrame:
    """The fine-tuning lr searches: one row per candidate, `chosen` marking the lr its model's
    fine-tunes trained with (lowest best loss; ties to the smaller lr, as `RunConfig.with_chosen_lr`)."""
    cols = ["N", "source", "D", "lr", "loss", "chosen"]
    if all_runs.empty or not (all_runs.kind == "lr-search").any():
        return pd.DataFrame(columns=cols)
    s = all_runs[all_runs.kind == "lr-search"].sort_values(["source", "N", "loss", "lr"]).copy()
    s["chosen"] = ~s.duplicated(["source", "N"])
    return s.sort_values(["source", "N", "lr"])[cols].reset_index(drop=True)


def pretrain_curves(c, all_runs: pd.DataFrame) -> list[dict]:
    """Held-out loss by step of each pre-training run: rows of N, source, step, test_loss."""
    return [{"N": float(r.N), "source": r.source, "step": int(m.step), "test_loss": float(m.value)}
            for r in all_runs[all_runs.kind == "pretrain"].itertuples()
            for m in sorted(c.get_metric_history(r.mlflow_run_id, "test_loss"), key=lambda m: m.step)]


def load_all(tracking_uri: str, experiment: str, run_keys: list[str] | None = None):
    c = mlflow_store.client(tracking_uri)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        from transfer_laws.tasks.common.errors import InputError

        raise InputError("--experiment", experiment, "is not an MLflow experiment in this store",
                         f"check the name, or the store ({tracking_uri})")
    all_runs = finished_runs(c, exp.experiment_id, run_keys)
    return c, exp.experiment_id, all_runs

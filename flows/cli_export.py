"""`transfer-laws export-suite`: a finished sweep's pre-trained models as a suite of Hugging Face folders."""
from __future__ import annotations


def register(sub) -> None:
    from transfer_laws.flows.cli import DefaultsHelp

    p = sub.add_parser("export-suite", formatter_class=DefaultsHelp,
                       help="write a sweep's pre-trained models as Hugging Face folders",
                       description="Write the pre-trained models of the finished sweep CONFIG (first seed of "
                       "each size and source) under OUT/SOURCE/SOURCE-N<size>/: config.json, "
                       "model.safetensors, the sweep's tokenizer and a model card (N, tokens seen, held-out "
                       "loss). Each loads with from_pretrained, and the folders of one source are a suite "
                       "another sweep can measure (sources: {NAME: {checkpoints: [...]}}). Needs a sweep "
                       "whose tokenizer is a Hugging Face one (bpe:V, a folder, hf:NAME).")
    p.add_argument("config", help="the sweep's YAML file")
    p.add_argument("--out", required=True, help="folder to write the suite into")
    p.add_argument("--source", help="export only this source (default: every source)")
    p.add_argument("--home", help="override the config's project run folder")
    p.set_defaults(func=cmd_export_suite)


def cmd_export_suite(a) -> int:
    from pathlib import Path

    from transfer_laws.flows.cli_sweep import _load, _plan
    from transfer_laws.tasks.sweep.export_suite import export_suite
    from transfer_laws.tasks.tracking import mlflow_store

    cfg, paths = _load(a)
    runs, _, target, _, _, _ = _plan(cfg, paths)
    finished = {}
    if cfg.tracking_uri or paths.mlflow_db.exists():  # never create a store to read it
        c = mlflow_store.client(cfg.tracking_uri or paths.mlflow_uri)
        exp = c.get_experiment_by_name(cfg.name)
        if exp is not None:
            finished = {k: r for k, r in mlflow_store.finished_runs(c, exp.experiment_id).items()
                        if mlflow_store.is_done(r)}
    folders = export_suite(cfg, runs, target.tokenizer_dir, finished, Path(a.out), a.source)
    for folder in folders:
        print(folder)
    by_source: dict[str, list[str]] = {}
    for folder in folders:
        by_source.setdefault(folder.parent.name, []).append(str(folder.resolve()))
    print("measure them as a source of another sweep:\nsources:")
    for name, paths_ in by_source.items():
        print(f"  {name}:\n    checkpoints:" + "".join(f"\n      - {p}" for p in paths_))
    return 0

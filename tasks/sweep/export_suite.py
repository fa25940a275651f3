"""The way back from a sweep to a suite: write a finished sweep's own pre-trained models as Hugging
Face folders (config.json, model.safetensors, the sweep's tokenizer, a model card), one per size
and source, loadable by `from_pretrained` and usable as `sources: {NAME: {checkpoints: [...]}}` of
another sweep. A suite measured so must give back the sweep's own fine-tuned losses: the check that
suites are measured right (tests/test_sweep_flow.py, docs/results.md).

Only the first pre-training seed of each (size, source) is exported (`cfg.experiment.seed`), and only a sweep
whose tokenizer is a Hugging Face folder (bpe:V, a folder, hf:NAME): a suite carries its tokenizer,
and the byte tokens have none.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from transfer_laws.tasks.common.atomic_folder import build_once
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.common.version import VERSION
from transfer_laws.tasks.data.tokenizer import tokenizer_files
from transfer_laws.tasks.train import checkpoints

CARD = "README.md"
RECORD = "transfer-laws.json"  # what was exported: the run_key and the numbers on the card


def suite_name(run) -> str:
    """The folder name of a pre-train: its source and exact N, e.g. `pylib-N12768`."""
    return f"{run.source}-N{run.n}"


def export_suite(cfg, runs: list, tokenizer_dir: str, finished: dict, out: Path,
                 source: str | None = None) -> list[Path]:
    """Write the pre-trained models among `runs` (`finished`: run_key -> MLflow run of the ones done)
    under `out/SOURCE/`; a folder already exported from the same run is kept as it is."""
    if not tokenizer_dir:
        raise InputError("experiment.tokenizer", cfg.experiment.tokenizer, "has no Hugging Face tokenizer folder to ship with the models",
                         "export a sweep whose tokenizer is bpe:V, a tokenizer folder or hf:NAME")
    if source is not None and source not in cfg.experiment.sources:
        raise InputError("--source", source, "is not a source of the sweep", f"use one of {sorted(cfg.experiment.sources)}")
    chosen = [r for r in runs if r.kind == "pretrain" and r.config.seed == cfg.experiment.seed
              and source in (None, r.source)]
    missing = [r.label for r in chosen if r.run_key not in finished
               or not (Path(r.config.out_dir) / "best" / "model.safetensors").exists()]
    if missing:
        raise InputError("CONFIG", cfg.experiment.name, f"has pre-training runs not finished: {', '.join(missing)}",
                         "run the sweep first (`transfer-laws run CONFIG`; done runs are skipped)")
    folders = []
    for run in chosen:
        folder = Path(out) / run.source / suite_name(run)
        record = folder / RECORD
        if folder.exists() and (not record.exists() or json.loads(record.read_text()).get("run_key") != run.run_key):
            raise InputError("--out", str(out), f"holds a folder {folder.name} that is not this run's export",
                             "export into an empty folder, or remove that one")
        best = Path(run.config.out_dir) / "best"
        if (best / checkpoints.MANIFEST).exists() and (reason := checkpoints.verify(best)):
            raise InputError("CONFIG", cfg.experiment.name, f"{run.label}: its best checkpoint cannot be trusted: {reason}",
                             "rerun that pre-training run (delete its run folder first)")
        build_once(folder, lambda tmp, run=run: _write(tmp, cfg, run, tokenizer_dir, finished[run.run_key]), RECORD)
        folders.append(folder)
    return folders


def _write(tmp: Path, cfg, run, tokenizer_dir: str, found) -> None:
    best = Path(run.config.out_dir) / "best"
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(best / name, tmp / name)
    for f in tokenizer_files(tokenizer_dir):
        shutil.copy2(f, tmp / f.name)
    shape, metrics = run.shape, found.data.metrics
    facts = {
        "run_key": run.run_key, "sweep": cfg.experiment.name, "config_hash": cfg.config_hash(), "source": run.source,
        "corpora": cfg.experiment.sources[run.source].corpora(), "family": shape.family,
        "params_non_embedding": shape.params_non_embedding, "params_total": shape.params_total,
        "n_ctx": run.config.n_ctx, "tokenizer": cfg.experiment.tokenizer, "seed": run.config.seed,
        "tokens_seen": int(metrics.get("tokens_seen", 0)), "best_step": int(metrics.get("best_step", 0)),
        "best_test_loss": metrics.get("best_test_loss"), "best_test_bpb": metrics.get("best_test_bpb"),
        "transfer_laws": VERSION}
    (tmp / CARD).write_text(_card(facts))
    (tmp / RECORD).write_text(json.dumps(facts, indent=2))  # last: marks the folder complete


def _card(f: dict) -> str:
    bpb = f" ({f['best_test_bpb']:.4f} bits/byte)" if f.get("best_test_bpb") else ""
    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [transfer-laws, scaling-laws]
---
# {f['source']} · N = {f['params_non_embedding']:,}

A {f['family']} causal language model pre-trained by transfer-laws {f['transfer_laws']} on
`{'+'.join(f['corpora'])}` (source `{f['source']}` of sweep `{f['sweep']}`, config hash
`{f['config_hash']}`, run `{f['run_key']}`), exported with `transfer-laws export-suite`.

| | |
|---|---|
| non-embedding parameters N | {f['params_non_embedding']:,} |
| all parameters | {f['params_total']:,} |
| context | {f['n_ctx']} tokens |
| tokenizer | {f['tokenizer']} (its files are in this folder) |
| tokens seen | {f['tokens_seen']:,} |
| best held-out loss | {f['best_test_loss']:.4f} nats/token{bpb}, at step {f['best_step']}, on the source's held-out split |
| seed | {f['seed']} |

Load it with `AutoModelForCausalLM.from_pretrained(folder)` and `AutoTokenizer.from_pretrained(folder)`,
or measure it as a source of another sweep: `sources: {{{f['source']}: {{checkpoints: [folder, …]}}}}`.
"""

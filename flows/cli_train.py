"""`transfer-laws train`: one early-stopped run on any text file or corpus, logged to MLflow."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

# The RunConfig fields this verb takes, by heading. Their flags (--n-layer for n_layer), types,
# defaults and help are generated from the model (tasks/train/config.py), so the verb and a sweep's
# runs share one set of defaults; presets such as configs/runs/tinyshakespeare.yaml change them.
FLAG_GROUPS = {
    "data": ["tokenizer", "dataset_tokens"],
    "model shape (give --n, or the explicit fields)": ["n_layer", "d_model", "n_head", "n_ctx", "family",
                                                       "n_kv_head", "tie_embeddings"],
    "optimiser (AdamW, linear warm-up, cosine decay to --min-lr)": [
        "batch_size", "lr", "min_lr", "warmup_steps", "max_steps", "weight_decay", "beta1", "beta2",
        "grad_clip", "seed"],
    "evaluation and early stopping": ["eval_interval", "eval_tokens", "patience", "log_interval"],
    "run": ["init_from", "device", "precision", "compile", "threads", "processes_per_run", "checkpoint_interval"],
}
# Shorter names kept from before the flags were generated (scripts and docs use them).
ALIASES = {"dataset_tokens": ["--d-tokens"], "processes_per_run": ["--processes"]}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_field(group, name: str, info) -> None:
    """One flag for the RunConfig field `name`: its type, choices, default and description."""
    import typing

    kind = info.annotation
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is not typing.Literal and len(args) == 1:  # int | None -> int
        kind = args[0]
    options = [flag(name), *ALIASES.get(name, [])]
    # no default in the namespace: a flag left out is told from one given (a preset fills the former)
    common = dict(default=argparse.SUPPRESS, help=f"{info.description} (default: {info.default})")
    if kind is bool:
        group.add_argument(*options, action=argparse.BooleanOptionalAction, **common)
    elif typing.get_origin(kind) is typing.Literal:
        group.add_argument(*options, choices=typing.get_args(kind), **common)
    else:
        group.add_argument(*options, type=kind, metavar=name.upper(), **common)


def register(sub) -> None:
    from transfer_laws.flows.cli import DefaultsHelp
    from transfer_laws.tasks.sweep.config import bundled_configs
    from transfer_laws.tasks.train.config import RunConfig

    p = sub.add_parser(
        "train", help="train one model on a text file or corpus (early-stopped, logged to MLflow)",
        description=(
            "Train one decoder-only transformer (GPT-2 or Llama blocks; byte, BPE or any Hugging Face "
            "tokens) to its early-stopping point in a subprocess, logging params, loss curves, the best "
            "checkpoint and run.json to MLflow. The defaults are a sweep's (one set, tasks/train/config.py); "
            "--preset tinyshakespeare gives nanoGPT's CPU reference "
            "(docs/data/tinyshakespeare/README.md)."),
        formatter_class=DefaultsHelp)
    p.add_argument("--preset", metavar="YAML", help="a YAML file of run settings (RunConfig field names) "
                   "used as the defaults, or the name of a bundled one (" + ", ".join(bundled_configs("runs")) + "); "
                   "flags given on the command line override it")
    data = p.add_argument_group("data")
    src = data.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="a text file; its last --test-fraction is held out")
    src.add_argument("--corpus", help="a registered corpus (python, english, code-other), a folder, a "
                     "glob, a .jsonl/.parquet file with a text column, or hf:OWNER/NAME")
    data.add_argument("--test-fraction", type=float, default=None,
                      help="held-out share: by document for corpora (default 0.03, as the paper), "
                      "the tail of the file for --text (default 0.1)")
    groups = {"data": data}
    for title, names in FLAG_GROUPS.items():
        group = groups[title] = groups.get(title) or p.add_argument_group(title)
        if title.startswith("model shape"):
            group.add_argument("--n", type=float, default=None,
                               help="target non-embedding parameter count; picks n_layer, d_model, n_head "
                               "from the family's aspect-ratio rule (model/shapes.py)")
        for name in names:
            _add_field(group, name, RunConfig.model_fields[name])
    run = groups["run"]
    run.add_argument("--home", default=None, help="project run folder (default $TRANSFER_LAWS_HOME "
                     "or ./.transfer-laws): MLflow store, data cache, run folders")
    run.add_argument("--out", default=None, help="run folder (default HOME/runs/<run_key>)")
    run.add_argument("--experiment", default="train", help="MLflow experiment name")
    run.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.set_defaults(func=cmd_train)


def settings(a: argparse.Namespace) -> dict:
    """Every setting the verb takes: the model's default, under the preset's value (--preset), under
    the flag given on the command line."""
    from transfer_laws.tasks.common.errors import InputError
    from transfer_laws.tasks.common.yaml_file import read_mapping
    from transfer_laws.tasks.sweep.config import bundled_config, bundled_configs
    from transfer_laws.tasks.train.config import RunConfig

    names = [n for group in FLAG_GROUPS.values() for n in group]
    out = {n: RunConfig.model_fields[n].default for n in names}
    if a.preset is not None:
        path = Path(a.preset)
        if not path.is_file():
            path = bundled_config(a.preset, "runs") or path
        if not path.is_file():
            raise InputError("--preset", a.preset, "is neither a file nor a bundled preset",
                             f"give a YAML file of run settings or one of {', '.join(bundled_configs('runs'))}")
        preset = read_mapping(path, "--preset", "write one `field: value` per line (RunConfig field names)")
        unknown = sorted(set(preset) - set(names))
        if unknown:
            raise InputError("--preset", str(path), f"sets {', '.join(unknown)}, not settings of `train`",
                             "use the field names of `transfer-laws train --help` (n_ctx for --n-ctx)")
        out |= preset
    return out | {n: getattr(a, n) for n in names if hasattr(a, n)}


def cmd_train(a: argparse.Namespace) -> int:
    from transfer_laws.tasks.common import env

    fields = settings(a)
    paths = env.project_paths(a.home)
    spec = a.text or a.corpus
    env.apply(paths, hub=spec.startswith("hf:") or fields["tokenizer"].startswith("hf:"), field="--home")

    from transfer_laws.model.shapes import shape_for
    from transfer_laws.tasks.common.errors import InputError
    from transfer_laws.tasks.data.corpora import resolve_corpus
    from transfer_laws.tasks.data.prepare import encoder_for, prepare
    from transfer_laws.tasks.data.tokenizer import TokenizerSpec
    from transfer_laws.tasks.train.config import RunConfig
    from transfer_laws.tasks.train.launch import launch

    if a.n is not None:
        if not a.n > 0:
            raise InputError("--n", a.n, "must be a positive parameter count", "use e.g. --n 1e5")
        s = shape_for(a.n, n_ctx=fields["n_ctx"], family=fields["family"])
        fields |= dict(n_layer=s.n_layer, d_model=s.d_model, n_head=s.n_head)
    test_fraction = a.test_fraction if a.test_fraction is not None else (0.1 if a.text else 0.03)
    tokenizer = TokenizerSpec.checked(fields["tokenizer"], "--tokenizer")
    fields |= dict(tokenizer=tokenizer.text, target=spec, kind="single")
    d_tokens, init_from, n_ctx = fields["dataset_tokens"], fields["init_from"], fields["n_ctx"]
    RunConfig.checked(**fields, data_dir="-", out_dir="-")  # every field checked before any work
    if a.text is not None and not Path(a.text).is_file():
        raise InputError("--text", a.text, "is not a file", "give the path of a text file")
    corpus = resolve_corpus(spec, paths.cache, field="--text" if a.text else "--corpus")
    encoder = encoder_for(tokenizer, paths.cache, [corpus], test_fraction, field="--tokenizer")
    fields["vocab_size"] = encoder.vocab_size  # the model's vocabulary is the tokenizer's
    if init_from is not None:  # before any data is tokenised or any run folder exists
        check_init_checkpoint(Path(init_from), RunConfig.checked(**fields, data_dir="-", out_dir="-").shape())
    data = prepare(corpus, paths.cache, test_fraction=test_fraction, encoder=encoder)
    data.check_subset(d_tokens, field="--d-tokens")
    data.check_context(n_ctx, d_tokens, field="--text" if a.text else "--corpus",
                       d_field="--d-tokens", ctx_field="--n-ctx")
    init_key = checkpoint_identity(Path(init_from)) if init_from else ""
    cfg = RunConfig.checked(**fields, data_dir=data.root, data_key=data.key, init_key=init_key,
                            out_dir="-")
    out = Path(a.out).resolve() if a.out else paths.runs / cfg.run_key()
    cfg = cfg.model_copy(update={"out_dir": str(out)})
    print(f"corpus {corpus.name!r}: {data.train_tokens:,} train / {data.test_tokens:,} held-out "
          f"{data.tokenizer} tokens (vocabulary {data.vocab_size:,}; {data.train_documents} / "
          f"{data.test_documents} documents); run {cfg.run_key()} "
          f"-> {out}", flush=True)
    from transfer_laws.tasks.tracking.run_tracker import RunTracker, TrackingTarget

    tracker = None if a.no_mlflow else RunTracker(TrackingTarget(paths.mlflow_uri, a.experiment), cfg)
    result = launch(cfg, tracker=tracker, show_progress=True)
    summary = {k: getattr(result, k) for k in (
        "run_key", "best_test_loss", "best_test_bpb", "best_step", "best_epoch", "steps", "tokens_seen", "flops",
        "tokens_per_second", "wall_seconds", "stopped", "params_non_embedding", "best_checkpoint")}
    print(json.dumps(summary, indent=2))
    print(f"best held-out loss: {result.best_test_loss:.4f} nats/token = {result.best_test_bpb:.4f} "
          f"bits/byte ({data.tokenizer} tokens, {data.held_out_tokens_per_byte:.4f} tokens/byte held out)")
    if not a.no_mlflow:
        print(f"MLflow: mlflow ui --backend-store-uri {paths.mlflow_uri} --port 5000  "
              f"(experiment {a.experiment!r})")
    return 0


def checkpoint_identity(path: Path) -> str:
    """What a fine-tune starts from, for its run_key: the sha256 of the checkpoint's weights."""
    from transfer_laws.tasks.train.checkpoints import MANIFEST, sha256_file

    manifest = path / MANIFEST
    if manifest.exists():
        return json.loads(manifest.read_text()).get("model.safetensors") or sha256_file(path / "model.safetensors")
    return sha256_file(path / "model.safetensors")


def check_init_checkpoint(path: Path, want) -> None:
    """A fine-tune's starting checkpoint must exist, be intact and have the run's shape: checked up
    front, so a bad one stops the run before any MLflow run or run folder exists.

    A checkpoint written by this project has a manifest of sha256 hashes (tasks/train/checkpoints.py):
    any flipped or missing byte fails it. One without a manifest (saved elsewhere) gets the checks
    that need no hash: a parsable config.json and a safetensors header that fits the file."""
    from transfer_laws.model.build import checkpoint_shape
    from transfer_laws.tasks.common.errors import InputError
    from transfer_laws.tasks.train.checkpoints import MANIFEST, verify

    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise InputError("--init-from", str(path), "is not a checkpoint folder (config.json and "
                         "model.safetensors missing)", "point it at the best/ folder of a finished run")
    if (path / MANIFEST).exists() and (reason := verify(path)):
        raise InputError("--init-from", str(path), f"cannot be trusted: {reason}",
                         "rerun the run that wrote it (delete its run folder first), or point "
                         "--init-from at another checkpoint")
    try:
        got = checkpoint_shape(path)
    except (ValueError, KeyError, TypeError, OSError) as exc:  # transformers: OSError for bad JSON
        raise InputError("--init-from", str(path), f"has an unreadable config.json ({type(exc).__name__}: "
                         f"{exc})", "point it at the best/ folder of a finished run") from None
    if not (path / MANIFEST).exists():
        _check_safetensors(path / "model.safetensors")
    if got != want:
        raise InputError("--init-from", str(path), f"holds shape {got.describe()}, but this run asks "
                         f"for {want.describe()}", "pass the checkpoint's --family/--n-layer/--d-model/"
                         "--n-head/--n-ctx, or a checkpoint of this shape")


def _check_safetensors(weights: Path) -> None:
    """The header parses and its tensors fit in the file (a truncated copy fails here)."""
    from transfer_laws.tasks.common.errors import InputError

    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="numpy") as f:
            for name in f.keys():
                f.get_slice(name)
    except Exception as exc:  # safetensors raises its own error types for every kind of damage
        raise InputError("--init-from", str(weights.parent), f"model.safetensors is unreadable "
                         f"({type(exc).__name__}: {exc})", "point it at the best/ folder of a "
                         "finished run, or copy the checkpoint again") from None

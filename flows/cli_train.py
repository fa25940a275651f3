"""`transfer-laws train`: one early-stopped run on any text file or corpus, logged to MLflow."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

REFERENCE = "nanoGPT's CPU reference on tinyshakespeare (docs/data/tinyshakespeare/README.md)"


def register(sub) -> None:
    from transfer_laws.model.shapes import FAMILIES, FAMILY_HELP
    from transfer_laws.tasks.data.tokenizer import TOKENIZER_HELP

    p = sub.add_parser(
        "train", help="train one model on a text file or corpus (early-stopped, logged to MLflow)",
        description=(
            "Train one decoder-only transformer (GPT-2 or Llama blocks; byte, BPE or any Hugging Face "
            "tokens) to its "
            "early-stopping point in a subprocess, logging params, loss curves, the best "
            f"checkpoint and run.json to MLflow. Defaults reproduce {REFERENCE}."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = p.add_argument_group("data")
    src = data.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="a text file; its last --test-fraction is held out")
    src.add_argument("--corpus", help="a registered corpus (python, english, code-other), a folder, a "
                     "glob, a .jsonl/.parquet file with a text column, or hf:OWNER/NAME")
    data.add_argument("--test-fraction", type=float, default=None,
                      help="held-out share: by document for corpora (default 0.03, as the paper), "
                      "the tail of the file for --text (default 0.1)")
    data.add_argument("--tokenizer", default="bytes", help=TOKENIZER_HELP + "; a BPE is trained on "
                      "the training split only")
    data.add_argument("--d-tokens", type=int, default=None,
                      help="train on the first D training tokens only (default: all)")
    shape = p.add_argument_group("model shape (give --n, or the explicit fields)")
    shape.add_argument("--n", type=float, default=None,
                       help="target non-embedding parameter count; picks n_layer, d_model, n_head "
                       "from the family's aspect-ratio rule (model/shapes.py)")
    shape.add_argument("--n-layer", type=int, default=4, help="transformer blocks")
    shape.add_argument("--d-model", type=int, default=128, help="residual width")
    shape.add_argument("--n-head", type=int, default=4, help="attention heads (must divide d-model)")
    shape.add_argument("--n-ctx", type=int, default=64, help="context length in tokens")
    shape.add_argument("--family", choices=FAMILIES, default="gpt2", help=FAMILY_HELP)
    shape.add_argument("--n-kv-head", type=int, default=0, help="llama: key/value heads (grouped-query "
                       "attention; must divide --n-head); 0 = --n-head")
    shape.add_argument("--untie-embeddings", action="store_true",
                       help="a separate LM head matrix (N excludes it either way)")
    opt = p.add_argument_group("optimiser (AdamW, linear warm-up, cosine decay to --min-lr)")
    opt.add_argument("--batch-size", type=int, default=12, help="sequences per step")
    opt.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    opt.add_argument("--min-lr", type=float, default=1e-4, help="final learning rate")
    opt.add_argument("--warmup-steps", type=int, default=100, help="linear warm-up steps")
    opt.add_argument("--max-steps", type=int, default=2000, help="step cap and cosine length")
    opt.add_argument("--weight-decay", type=float, default=0.1, help="on weight matrices only")
    opt.add_argument("--beta1", type=float, default=0.9, help="AdamW beta1")
    opt.add_argument("--beta2", type=float, default=0.99, help="AdamW beta2")
    opt.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm; 0 = off")
    opt.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    ev = p.add_argument_group("evaluation and early stopping")
    ev.add_argument("--eval-interval", type=int, default=100, help="steps between held-out evals")
    ev.add_argument("--eval-tokens", type=int, default=16384, help="max held-out tokens per eval")
    ev.add_argument("--patience", type=int, default=5,
                    help="evals without improvement before stopping; 0 = run to --max-steps")
    run = p.add_argument_group("run")
    run.add_argument("--init-from", default=None, help="checkpoint folder to fine-tune from "
                     "(a run's best/ folder; same shape required)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    run.add_argument("--precision", choices=["auto", "no", "bf16"], default="auto",
                     help="auto = bf16 autocast on GPU, fp32 on CPU")
    run.add_argument("--compile", action="store_true", help="torch.compile the model (inductor): "
                     "slower start, faster steps on long GPU runs; losses match eager within 1e-3")
    run.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = torch default")
    run.add_argument("--processes", type=int, default=1, help="processes training this run together "
                     "(data parallel via `accelerate launch`: one per GPU, or gloo on CPU); "
                     "--batch-size must be a multiple of it")
    run.add_argument("--home", default=None, help="project run folder (default $TRANSFER_LAWS_HOME "
                     "or ./.transfer-laws): MLflow store, data cache, run folders")
    run.add_argument("--out", default=None, help="run folder (default HOME/runs/<run_key>)")
    run.add_argument("--experiment", default="train", help="MLflow experiment name")
    run.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.set_defaults(func=cmd_train)


def cmd_train(a: argparse.Namespace) -> int:
    from transfer_laws.tasks.common import env

    paths = env.project_paths(a.home)
    spec = a.text or a.corpus
    env.apply(paths, hub=spec.startswith("hf:") or a.tokenizer.startswith("hf:"), field="--home")

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
        s = shape_for(a.n, n_ctx=a.n_ctx, family=a.family)
        a.n_layer, a.d_model, a.n_head = s.n_layer, s.d_model, s.n_head
    test_fraction = a.test_fraction if a.test_fraction is not None else (0.1 if a.text else 0.03)
    tokenizer = TokenizerSpec.checked(a.tokenizer, "--tokenizer")
    fields = dict(tokenizer=tokenizer.text, n_layer=a.n_layer, d_model=a.d_model, n_head=a.n_head, n_ctx=a.n_ctx,
                  family=a.family,
                  n_kv_head=a.n_kv_head, tie_embeddings=not a.untie_embeddings,
                  dataset_tokens=a.d_tokens, lr=a.lr, min_lr=a.min_lr, warmup_steps=a.warmup_steps,
                  max_steps=a.max_steps, batch_size=a.batch_size, weight_decay=a.weight_decay,
                  beta1=a.beta1, beta2=a.beta2, grad_clip=a.grad_clip, seed=a.seed,
                  eval_interval=a.eval_interval, eval_tokens=a.eval_tokens, patience=a.patience,
                  device=a.device, precision=a.precision, threads=a.threads, init_from=a.init_from,
                  compile=a.compile,
                  processes_per_run=a.processes,
                  target=spec, kind="single")
    RunConfig.checked(**fields, data_dir="-", out_dir="-")  # every field checked before any work
    if a.text is not None and not Path(a.text).is_file():
        raise InputError("--text", a.text, "is not a file", "give the path of a text file")
    corpus = resolve_corpus(spec, paths.cache, field="--text" if a.text else "--corpus")
    encoder = encoder_for(tokenizer, paths.cache, [corpus], test_fraction, field="--tokenizer")
    fields["vocab_size"] = encoder.vocab_size  # the model's vocabulary is the tokenizer's
    if a.init_from is not None:  # before any data is tokenised or any run folder exists
        check_init_checkpoint(Path(a.init_from), RunConfig.checked(**fields, data_dir="-", out_dir="-").shape())
    data = prepare(corpus, paths.cache, test_fraction=test_fraction, encoder=encoder)
    data.check_subset(a.d_tokens, field="--d-tokens")
    data.check_context(a.n_ctx, a.d_tokens, field="--text" if a.text else "--corpus",
                       d_field="--d-tokens", ctx_field="--n-ctx")
    init_key = checkpoint_identity(Path(a.init_from)) if a.init_from else ""
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

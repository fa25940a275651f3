"""The bad-input catalogue (reliability issue #6, item 5): every case is a clear message, exit 2,
and nothing half-written.

Each case builds one bad input in its own folder (a sweep YAML, a runs CSV, a corpus, a corrupted
checkpoint, …), runs `transfer-laws ARGV` through `flows.cli.main` in-process (or as a subprocess
where marked), and checks:

- the exit code is 2;
- the error names the field and says what to do (`field = value: problem. Fix: …`,
  tasks/common/errors.py; argparse errors get the same `Fix:` tail from flows/cli.py);
- no traceback;
- nothing half-written: the project folder (`--home`) holds no run folder, MLflow store or
  report afterwards (the data cache is shared, `$TRANSFER_LAWS_CACHE_DIR`, tests/conftest.py).

The last test regenerates the catalogue table of docs/reliability.md (between the markers
`<!-- catalogue:start -->` / `<!-- catalogue:end -->`) from the messages the code prints now and
fails with a diff when the committed file differs; `UPDATE_DOCS=1 pytest tests/test_bad_inputs.py`
rewrites it (then commit it). So the document cannot drift from the code.
"""
from __future__ import annotations

import contextlib
import difflib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from transfer_laws.flows.cli import main

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "reliability.md"
START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"

# A small checkpoint shape, and the train flags that ask for exactly it.
CKPT_FLAGS = ["--n-layer", "1", "--d-model", "16", "--n-head", "1", "--n-ctx", "32"]


# ---- building bad inputs -------------------------------------------------------------------------
def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def small_text(d: Path) -> Path:
    return write(d / "small.txt", "to be or not to be, that is the question.\n" * 300)


def target_folder(d: Path) -> Path:
    """A tiny target corpus: a few text files, about 16 k training tokens."""
    for i in range(6):
        write(d / "target" / f"doc{i}.txt", f"document {i}: " + "the quick brown fox jumps. " * 110)
    return d / "target"


SWEEP = {"experiment": {
    "name": "bad-input", "target": "python", "sources": {"english": {"corpus": "english"}},
    "sizes": [1e4, 1e5], "finetune_tokens": [2000, 8000], "pretrain_tokens": 100000,
}}


def sweep(d: Path, verb: str = "run", drop: tuple[str, ...] = (), **changes) -> list[str]:
    """`verb` of SWEEP with some settings changed, written in groups as a user writes them: a
    setting named by its field (`sizes=…`, `batch_size=…`) goes into its group; a group
    (`optimiser={…}`) is merged into the group; any other name (a misspelt group) goes to the top
    level as given. `drop` leaves fields out."""
    import copy

    import yaml

    from transfer_laws.tasks.sweep.config import GROUP_OF, GROUPS

    values = copy.deepcopy(SWEEP)
    for key, value in changes.items():
        if key in GROUP_OF:
            values.setdefault(GROUP_OF[key], {})[key] = value
        elif key in GROUPS and isinstance(value, dict):
            values.setdefault(key, {}).update(value)
        else:
            values[key] = value
    for key in drop:
        del values[GROUP_OF[key]][key]
    path = write(d / "sweep.yaml", yaml.safe_dump(values, sort_keys=False))
    return [verb, str(path), "--home", str(d / "home")]


def local_sweep(d: Path, verb: str, target: Path | None = None, **changes) -> list[str]:
    """A sweep on local folders only (no registered corpus to fetch), for the data-dependent checks."""
    target = target or target_folder(d)
    return sweep(d, verb, target=str(target), sources={"local": {"corpus": str(target_folder(d))}},
                 **changes)


def suite_checkpoint(d: Path, name: str, weights: bool = True, width: int = 16) -> Path:
    """A tiny GPT-NeoX checkpoint folder (config, random weights unless not `weights`, a BPE
    tokenizer trained on a few lines; context 64)."""
    from transformers import AutoModelForCausalLM, GPTNeoXConfig

    from transfer_laws.tasks.data.tokenizer import train_bpe

    config = GPTNeoXConfig(vocab_size=320, hidden_size=width, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=4 * width, max_position_embeddings=64, tie_word_embeddings=False)
    folder = d / "suite" / name
    if weights:
        AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    else:
        config.save_pretrained(folder)
    tok = d / "suite-tokenizer"
    if not tok.exists():
        train_bpe(300, ["the quick brown fox jumps over the lazy dog. " * 20] * 5, tok)
    for f in tok.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


def suite_sweep(d: Path, verb: str = "dry-run", checkpoints: list[str] | None = None, **changes) -> list[str]:
    """`verb` of a sweep whose source is a suite of two checkpoints, on a local target."""
    checkpoints = checkpoints or [str(suite_checkpoint(d, "a")), str(suite_checkpoint(d, "b", width=32))]
    changes = {"n_ctx": 32, "finetune_tokens": [500, 1000], **changes}
    return sweep(d, verb, drop=("sizes", "pretrain_tokens"), target=str(target_folder(d)),
                 sources={"suite": {"checkpoints": checkpoints}}, **changes)


def sweep_text(d: Path, text: str | bytes, verb: str = "run") -> list[str]:
    return [verb, str(write(d / "sweep.yaml", text)), "--home", str(d / "home")]


def train(d: Path, *args: str, text: bool = True) -> list[str]:
    data = ["--text", str(small_text(d))] if text else []
    return ["train", "--home", str(d / "home"), *data, *args]


def checkpoint(d: Path, shape=(1, 16, 1, 32), manifest: bool = True) -> Path:
    """A real checkpoint folder as a run's best/ would be: config.json, model.safetensors, manifest."""
    from transfer_laws.model.build import build_model
    from transfer_laws.model.shapes import Shape
    from transfer_laws.tasks.train.checkpoints import write_manifest

    folder = d / "ckpt"
    build_model(Shape(*shape, 256), seed=0).save_pretrained(str(folder))
    if manifest:
        write_manifest(folder)
    return folder


def corrupted_checkpoint(d: Path) -> Path:
    folder = checkpoint(d)
    weights = folder / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    middle = len(raw) // 2  # inside the tensor data: the header still parses, only the hash knows
    raw[middle:middle + 8] = bytes(b ^ 0xFF for b in raw[middle:middle + 8])
    weights.write_bytes(bytes(raw))
    return folder


RUNS_HEADER = "N,D,init,loss\n"


def good_rows() -> list[str]:
    """Enough scratch runs for the kaplan form (5 parameters: 6 runs over 2 sizes and 2 D)."""
    rows = []
    for n in (1e4, 1e5, 1e6):
        for dd in (1e5, 1e6):
            rows.append(f"{n:g},{dd:g},scratch,{2.0 + 1e3 / n + 1e4 / dd:.6f}")
    return rows


def runs_csv(d: Path, text: str | bytes) -> list[str]:
    path = write(d / "runs.csv", text)
    return ["fit", str(path), "--out", str(d / "home" / "report"), "--bootstrap", "0", "--jobs", "1",
            "--no-figures"]


def predict(d: Path, fit: str | bytes | None, *args: str) -> list[str]:
    path = d / "fit.json"
    if fit is not None:
        write(path, fit)
    return ["predict", "--fit", str(path), *args]


LAW = {"k": 1e3, "alpha": 0.3, "beta": 0.4, "ci95": {}, "n_points": 6}


# ---- the catalogue -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    what: str  # one line: the bad input
    build: Callable[[Path], list[str]]  # writes the bad input under the folder; returns the argv
    field: str  # the field the message must name
    subprocess: bool = False  # run `python -P -m transfer_laws.flows.cli` instead of main() in-process
    xfail: str = ""  # a known gap (the fix belongs to a file this suite's author may not edit)
    xfail_run: bool = True  # False: a gap too slow to run on every test run (it trains or serves)


CASES: list[Case] = [
    # sweep configs ----------------------------------------------------------------------------
    Case("config-missing", "the sweep config file does not exist",
         lambda d: ["run", str(d / "nope.yaml"), "--home", str(d / "home")], "CONFIG",
         subprocess=True),
    Case("config-invalid-yaml", "the config is not valid YAML",
         lambda d: sweep_text(d, "experiment:\n  name: x\n  sizes: [1e4, 1e5\n"), "CONFIG"),
    Case("config-not-mapping", "the config is a YAML list, not a mapping of fields",
         lambda d: sweep_text(d, "- python\n- english\n"), "CONFIG"),
    Case("config-empty", "the config file is empty",
         lambda d: sweep_text(d, ""), "CONFIG"),
    Case("config-not-utf8", "the config file is binary (not UTF-8 text)",
         lambda d: sweep_text(d, b"\xff\xfe\x00\x01name: \x9c\x00"), "CONFIG"),
    Case("config-unknown-field", "a misspelt field (optimiser: learning_rate instead of lr)",
         lambda d: sweep(d, optimiser={"learning_rate": 1e-3}), "optimiser.learning_rate"),
    Case("config-unknown-group", "a misspelt group (optimizer: instead of optimiser:)",
         lambda d: sweep(d, optimizer={"lr": 1e-3}), "optimizer"),
    Case("config-wrong-group", "a field in the wrong group (batch_size under experiment: instead of optimiser:)",
         lambda d: sweep(d, experiment={"batch_size": 16}), "experiment.batch_size"),
    Case("config-missing-field", "a required field (sizes) is left out",
         lambda d: sweep(d, drop=("sizes",)), "experiment.sizes"),
    Case("config-unknown-target", "the target corpus is neither registered nor a path",
         lambda d: sweep(d, target="no-such-corpus"), "experiment.target"),
    Case("config-unknown-source", "a source corpus is neither registered nor a path",
         lambda d: sweep(d, sources={"web": {"corpus": "no-such-corpus"}}), "experiment.sources.web"),
    Case("config-mixture-weights", "mixture weights do not sum to 1",
         lambda d: sweep(d, sources={"mix": {"mixture": {"english": 0.5, "code-other": 0.3}}}),
         "experiment.sources.mix"),
    Case("config-unknown-family", "a model family that does not exist",
         lambda d: sweep(d, family="mamba"), "experiment.family"),
    Case("config-kv-group-gpt2", "grouped-query attention asked of the GPT-2 family",
         lambda d: sweep(d, kv_group=2), "experiment.kv_group"),
    Case("config-unknown-tokenizer", "a tokenizer spec that is none of bytes, bpe:V, a folder, hf:NAME",
         lambda d: sweep(d, tokenizer="wordpiece"), "tokenizer"),
    Case("config-bpe-vocab-small", "a BPE vocabulary below 257 (the bytes and end-of-text need 257)",
         lambda d: sweep(d, tokenizer="bpe:200"), "tokenizer"),
    Case("config-bpe-vocab-large", "a BPE vocabulary above 2^17",
         lambda d: sweep(d, tokenizer="bpe:300000"), "tokenizer"),
    Case("config-tokenizer-folder", "a tokenizer folder without tokenizer.json",
         lambda d: sweep(d, tokenizer=str(write(d / "tok" / "vocab.txt", "a\nb\n").parent)), "tokenizer"),
    Case("config-suite-sizes", "sizes given for a source that is a suite of checkpoints",
         lambda d: sweep(d, sources={"suite": {"checkpoints": ["a", "b"]}}), "experiment.sizes"),
    Case("config-suite-and-corpus", "a suite of checkpoints and a corpus source in one sweep",
         lambda d: sweep(d, drop=("sizes", "pretrain_tokens"),
                         sources={"suite": {"checkpoints": ["a", "b"]}, "web": {"corpus": "english"}}), "experiment.sources"),
    Case("config-checkpoint-missing", "a checkpoint folder that does not exist (dry-run)",
         lambda d: suite_sweep(d, "dry-run", [str(d / "nowhere-a"), str(d / "nowhere-b")]), "experiment.sources.suite.checkpoints[0]"),
    Case("config-checkpoint-hub-offline", "a hub checkpoint not in the cache, with no network (dry-run)",
         lambda d: suite_sweep(d, "dry-run", ["hf:no-such-owner/model-a", "hf:no-such-owner/model-b"]),
         "experiment.sources.suite.checkpoints[0]"),
    Case("config-checkpoint-no-weights", "a checkpoint folder without safetensors weights (dry-run)",
         lambda d: suite_sweep(d, "dry-run", [str(suite_checkpoint(d, "a", weights=False)),
                                str(suite_checkpoint(d, "b", width=32))]),
         "experiment.sources.suite.checkpoints[0]"),
    Case("config-checkpoint-context", "n_ctx longer than the checkpoints were built for (dry-run)",
         lambda d: suite_sweep(d, n_ctx=128), "experiment.n_ctx"),
    Case("config-checkpoint-memory", "a batch whose training would not fit the device's memory (run)",
         lambda d: suite_sweep(d, "run", batch_size=4_000_000), "experiment.sources.suite.checkpoints"),
    Case("config-duplicate-sizes", "the same model size twice",
         lambda d: sweep(d, sizes=[1e4, 1e4, 1e5]), "experiment.sizes"),
    Case("config-size-not-number", "a model size that is not a number",
         lambda d: sweep(d, sizes=[1e4, "big"]), "experiment.sizes"),
    Case("config-negative-size", "a negative model size",
         lambda d: sweep(d, sizes=[-1e4, 1e5]), "experiment.sizes"),
    Case("config-too-few-sizes", "one model size (the transfer law needs a slope in N)",
         lambda d: sweep(d, sizes=[1e4]), "experiment.sizes"),
    Case("config-same-shape", "two sizes so close they map to the same shape",
         lambda d: sweep(d, sizes=[1e4, 1.01e4]), "experiment.sizes"),
    Case("config-too-few-df", "one fine-tuning size D_F (the law needs a slope in D_F)",
         lambda d: sweep(d, finetune_tokens=[2000]), "experiment.finetune_tokens"),
    Case("config-n-ctx", "a context of one token",
         lambda d: sweep(d, n_ctx=1), "experiment.n_ctx"),
    Case("config-warmup-past-cap", "warmup_steps at or above max_steps",
         lambda d: sweep(d, warmup_steps=600, max_steps=600), "optimiser.warmup_steps"),
    Case("config-batch-processes", "batch_size not a multiple of processes_per_run",
         lambda d: sweep(d, batch_size=30, processes_per_run=4), "optimiser.batch_size"),
    Case("config-deployments-no-server", "executor deployments with the local SQLite MLflow store",
         lambda d: sweep(d, executor="deployments"), "tracking.tracking_uri"),
    Case("config-df-beyond-data", "a D_F larger than the target's training split (dry-run)",
         lambda d: local_sweep(d, "dry-run", finetune_tokens=[2000, 10**9]),
         "experiment.finetune_tokens"),
    Case("config-df-below-context", "a D_F no larger than one context (dry-run)",
         lambda d: local_sweep(d, "dry-run", finetune_tokens=[100, 2000]),
         "experiment.finetune_tokens"),
    Case("config-df-beyond-data-run", "a D_F larger than the target's training split (run)",
         lambda d: local_sweep(d, "run", finetune_tokens=[2000, 10**9]),
         "experiment.finetune_tokens"),
    Case("config-test-split-below-context", "a target whose held-out split is shorter than n_ctx (run)",
         lambda d: local_sweep(d, "run", tiny_docs(d), n_ctx=256, finetune_tokens=[300, 600]),
         "experiment.target"),
    Case("home-not-writable-run", "the project folder (--home) cannot be written: it lies under a file",
         lambda d: [*sweep(d)[:2], "--home", str(write(d / "notes.txt", "a file\n") / "home")], "home"),
    Case("aggregate-unknown-experiment", "aggregate an experiment the project's MLflow store lacks",
         lambda d: ["aggregate", "--experiment", "no-such-sweep", "--home", str(d / "home"),
                    "--bootstrap", "0"], "--experiment"),
    # CLI arguments ---------------------------------------------------------------------------
    Case("cli-unknown-verb", "a verb that does not exist",
         lambda d: ["frobnicate"], "VERB"),
    Case("train-no-data", "train without --text or --corpus",
         lambda d: train(d, text=False), "--text"),
    Case("fit-unknown-form", "fit with an unknown --form",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(good_rows()) + "\n") + ["--form", "power"],
         "--form"),
    # train arguments -------------------------------------------------------------------------
    Case("train-home-not-writable", "train's --home cannot be written: it lies under a file",
         lambda d: ["train", "--home", str(write(d / "notes.txt", "a file\n") / "home"),
                    "--text", str(small_text(d))], "--home"),
    Case("train-n-not-number", "--n is not a number",
         lambda d: train(d, "--n", "big"), "--n"),
    Case("train-n-negative", "--n is negative",
         lambda d: train(d, "--n=-5"), "--n"),
    Case("train-heads", "--n-head does not divide --d-model",
         lambda d: train(d, "--d-model", "100", "--n-head", "3"), "d_model"),
    Case("train-kv-heads", "--n-kv-head does not divide --n-head (llama)",
         lambda d: train(d, "--family", "llama", "--n-kv-head", "3"), "n_kv_head"),
    Case("train-llama-heads", "family llama with --n-head not dividing --d-model",
         lambda d: train(d, "--family", "llama", "--d-model", "100", "--n-head", "3"), "d_model"),
    Case("train-tokenizer-hub-offline", "a hub tokenizer not in the cache, with no network",
         lambda d: train(d, "--tokenizer", "hf:no-such-owner/no-such-tokenizer"), "--tokenizer"),
    Case("train-lr-negative", "a negative learning rate",
         lambda d: train(d, "--lr=-1e-3"), "lr"),
    Case("train-warmup", "warm-up as long as the whole run",
         lambda d: train(d, "--warmup-steps", "100", "--max-steps", "100"), "warmup_steps"),
    Case("train-batch-processes", "--batch-size not a multiple of --processes",
         lambda d: train(d, "--batch-size", "10", "--processes", "3"), "batch_size"),
    Case("train-preset-unknown-setting", "a --preset file that sets a name no run has (learning_rate for lr)",
         lambda d: train(d, "--preset", str(write(d / "preset.yaml", "n_ctx: 64\nlearning_rate: 0.01\n"))),
         "--preset"),
    Case("train-preset-missing", "--preset names neither a file nor a bundled preset",
         lambda d: train(d, "--preset", "no-such-preset"), "--preset"),
    Case("train-test-fraction", "a held-out share above 1",
         lambda d: train(d, "--test-fraction", "1.5"), "test_fraction"),
    Case("train-d-tokens", "--d-tokens beyond the training split",
         lambda d: train(d, "--d-tokens", "1000000000"), "--d-tokens"),
    Case("train-missing-text", "--text names no file",
         lambda d: train(d, "--text", str(d / "missing.txt"), text=False), "--text"),
    Case("train-missing-corpus", "--corpus names neither a corpus nor a path",
         lambda d: train(d, "--corpus", str(d / "no" / "such" / "folder"), text=False), "--corpus"),
    Case("train-glob-no-match", "--corpus is a glob that matches nothing",
         lambda d: train(d, "--corpus", str(d / "nothing" / "*.txt"), text=False), "--corpus"),
    Case("train-init-not-checkpoint", "--init-from is an empty folder",
         lambda d: train(d, "--init-from", str((d / "empty").mkdir() or d / "empty"), *CKPT_FLAGS),
         "--init-from"),
    Case("train-init-corrupted", "--init-from whose model.safetensors has flipped bytes",
         lambda d: train(d, "--init-from", str(corrupted_checkpoint(d)), *CKPT_FLAGS), "--init-from"),
    Case("train-init-bad-config", "--init-from whose config.json is not JSON",
         lambda d: train(d, "--init-from",
                         str(write(checkpoint(d, manifest=False) / "config.json", "{oops").parent),
                         *CKPT_FLAGS), "--init-from"),
    Case("train-init-truncated-no-manifest", "--init-from without a manifest, weights truncated",
         lambda d: train(d, "--init-from", str(truncated(checkpoint(d, manifest=False))), *CKPT_FLAGS),
         "--init-from"),
    Case("train-init-wrong-shape", "--init-from holds another shape than the run asks for",
         lambda d: train(d, "--init-from", str(checkpoint(d, shape=(1, 32, 2, 32))), *CKPT_FLAGS),
         "--init-from"),
    # corpora --------------------------------------------------------------------------------
    Case("corpus-empty-folder", "a corpus folder with no files",
         lambda d: train(d, "--corpus", str((d / "corpus").mkdir() or d / "corpus"), text=False),
         "--corpus"),
    Case("corpus-binary-folder", "a corpus folder of binary files",
         lambda d: train(d, "--corpus", str(binary_folder(d)), text=False), "--corpus"),
    Case("corpus-not-utf8", "a Latin-1 text file (not UTF-8)",
         lambda d: train(d, "--text", str(write(d / "latin1.txt", "café crème\n".encode("latin-1") * 400)),
                         text=False), "--text"),
    Case("corpus-empty-file", "an empty text file",
         lambda d: train(d, "--text", str(write(d / "empty.txt", "")), text=False), "--text"),
    Case("corpus-whitespace-file", "a text file of blank lines only",
         lambda d: train(d, "--text", str(write(d / "blank.txt", "\n  \n\t\n")), text=False), "--text"),
    Case("corpus-shorter-than-context", "a single tiny file, shorter than one context",
         lambda d: train(d, "--text", str(write(d / "tiny.txt", "print('hello, world')\n")),
                         text=False), "--text"),
    Case("corpus-test-split-below-context", "a file whose held-out tail is shorter than a context",
         lambda d: train(d, "--text", str(write(d / "short.txt", "x = 1\n" * 60)), "--n-ctx", "64",
                         text=False), "--text"),
    Case("corpus-jsonl-no-text", "a .jsonl corpus without a `text` column",
         lambda d: train(d, "--corpus", str(write(d / "docs.jsonl", '{"content": "a"}\n{"content": "b"}\n')),
                         text=False), "--corpus"),
    # runs CSVs for `fit` ----------------------------------------------------------------------
    Case("runs-missing-file", "the runs CSV does not exist",
         lambda d: ["fit", str(d / "runs.csv"), "--out", str(d / "home" / "report")], "RUNS.csv"),
    Case("runs-empty-file", "an empty runs CSV (0 bytes)",
         lambda d: runs_csv(d, ""), "RUNS.csv"),
    Case("runs-header-only", "a runs CSV with a header and no runs",
         lambda d: runs_csv(d, RUNS_HEADER), "RUNS.csv"),
    Case("runs-binary", "a runs CSV that is binary, not text",
         lambda d: runs_csv(d, bytes(range(256)) * 4), "RUNS.csv"),
    Case("runs-not-utf8", "a runs CSV saved as Latin-1, not UTF-8",
         lambda d: runs_csv(d, (RUNS_HEADER + "\n".join(good_rows()) + "\n1e4,1e5,café,2.9\n")
                            .encode("latin-1")), "RUNS.csv"),
    Case("runs-missing-column", "the loss column is missing",
         lambda d: runs_csv(d, "N,D,init\n1e4,1e5,scratch\n"), "column loss"),
    Case("runs-loss-not-number", "a loss that is text",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(good_rows() + ["1e7,1e6,scratch,n/a"]) + "\n"),
         "column loss"),
    Case("runs-negative-n", "a negative N",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(["-1e4,1e5,scratch,3.1"] + good_rows()) + "\n"),
         "column N"),
    Case("runs-zero-d-scratch", "D = 0 on a scratch row (only a zero-shot row, whose init names a source, has D = 0)",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(good_rows() + ["1e7,0,scratch,2.5"]) + "\n"),
         "column D"),
    Case("runs-empty-init", "a run with no init",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(good_rows() + ["1e7,1e6,,2.5"]) + "\n"),
         "column init"),
    Case("runs-conflicting-duplicate", "the same run twice with different losses",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(good_rows() + ["1e4,1e5,scratch,9.9"]) + "\n"),
         "rows"),
    Case("runs-too-few", "too few scratch runs to fit the surface",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(good_rows()[:3]) + "\n"), "scratch runs"),
    Case("runs-too-few-finetuned", "too few fine-tuned runs for the transfer law",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(good_rows() + ["1e4,1e5,english,2.9"]) + "\n"),
         "init = english"),
    Case("fit-negative-bootstrap", "a negative --bootstrap",
         lambda d: runs_csv(d, RUNS_HEADER + "\n".join(good_rows()) + "\n") + ["--bootstrap=-1"],
         "--bootstrap"),
    # fit.json for `predict` -------------------------------------------------------------------
    Case("predict-missing-fit", "--fit names no file",
         lambda d: predict(d, None, "--n", "1e6", "--d-f", "1e5"), "--fit"),
    Case("predict-garbage-fit", "--fit is not JSON",
         lambda d: predict(d, "not json at all", "--n", "1e6", "--d-f", "1e5"), "--fit"),
    Case("predict-fit-not-object", "--fit is JSON but not an object",
         lambda d: predict(d, "[1, 2, 3]", "--n", "1e6", "--d-f", "1e5"), "--fit"),
    Case("predict-fit-no-transfer", "--fit has no transfer law (scratch only)",
         lambda d: predict(d, json.dumps({"scratch": {}, "transfer": {}}), "--n", "1e6", "--d-f", "1e5"),
         "--fit"),
    Case("predict-fit-bad-numbers", "--fit whose law holds text where numbers belong",
         lambda d: predict(d, json.dumps({"transfer": {"english": {**LAW, "k": "abc"}}}),
                           "--n", "1e6", "--d-f", "1e5"), "--fit"),
    Case("predict-unknown-source", "--source is not in the fit",
         lambda d: predict(d, json.dumps({"transfer": {"english": LAW}}), "--n", "1e6", "--d-f", "1e5",
                           "--source", "web"), "--source"),
    Case("predict-negative-n", "a negative --n",
         lambda d: predict(d, json.dumps({"transfer": {"english": LAW}}), "--n=-1", "--d-f", "1e5"),
         "--n"),
    Case("predict-far-extrapolation", "--n three decades beyond the sizes the law was fitted on",
         lambda d: predict(d, json.dumps({"transfer": {"english": {
             **LAW, "d_t_observed": {"usable": [[1e4, 1e3], [1e5, 1e4]]}}}}), "--n", "1e8", "--d-f", "1e4"),
         "--n"),
    # scale-out services ------------------------------------------------------------------------
    Case("services-open-without-auth", "servers on every interface (--host 0.0.0.0) without credentials",
         lambda d: ["services", "start", "--host", "0.0.0.0", "--home", str(d / "home")], "--host"),
]


def binary_folder(d: Path) -> Path:
    for i in range(3):
        write(d / "corpus" / f"blob{i}.bin", bytes(range(256)) * (i + 2))
    return d / "corpus"


def tiny_docs(d: Path) -> Path:
    """300 distinct 15-byte documents: the 3 % test split holds ~140 tokens."""
    for i in range(300):
        write(d / "tiny" / f"d{i:03d}.txt", f"line {i:09d}\n")
    return d / "tiny"


def truncated(folder: Path) -> Path:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return folder


# ---- running a case ------------------------------------------------------------------------------
@dataclass
class Outcome:
    argv: list[str]
    code: int
    out: str
    err: str
    created: list[str]  # paths under the case folder that the command left behind
    folder: Path


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def _run(case: Case, folder: Path) -> Outcome:
    argv = case.build(folder)
    before = _tree(folder)
    if case.subprocess:
        proc = subprocess.run([sys.executable, "-m", "transfer_laws.flows.cli", *argv], capture_output=True,
                              text=True, cwd=REPO, env=dict(os.environ),
                              timeout=120)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        # Prefect fixes its settings (PREFECT_HOME) when first imported: import it under the test
        # session's environment, not under a case's, so no later test inherits a case's home.
        import prefect  # noqa: F401

        saved = dict(os.environ)  # env.apply() points MLflow/Prefect at the case's home: undo it
        out_buf, err_buf = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out_buf), contextlib.redirect_stderr(err_buf):
                try:
                    code = main(argv)
                except SystemExit as exc:  # argparse exits itself
                    code = exc.code if isinstance(exc.code, int) else 1
                except Exception:  # an escaped exception is a finding: show it, as a user would
                    import traceback

                    traceback.print_exc(file=sys.stderr)
                    code = 1
        finally:
            os.environ.clear()
            os.environ.update(saved)
        out, err = out_buf.getvalue(), err_buf.getvalue()
    # No new file anywhere; and none of the project's outputs, not even empty (importing Prefect
    # makes an empty home/prefect/, which holds nothing and is allowed).
    new = _tree(folder) - before
    created = sorted(p for p in new if (folder / p).is_file())
    created += sorted(p for p in new if p.split("/")[0] == "home" and p.split("/")[1:2]
                      and p.split("/")[1] in OUTPUTS)
    return Outcome(argv, code, out, err, sorted(set(created)), folder)


OUTPUTS = {"runs", "reports", "report", "mlflow.db", "mlartifacts"}  # under --home (and fit's --out)


_OUTCOMES: dict[str, Outcome] = {}


def outcome(case: Case, tmp_path_factory) -> Outcome:
    """Each case runs once per session: its test checks it, the catalogue prints it."""
    if case.id not in _OUTCOMES:
        _OUTCOMES[case.id] = _run(case, tmp_path_factory.mktemp(case.id, numbered=True))
    return _OUTCOMES[case.id]


def message(o: Outcome) -> str:
    """The error: stderr from its `VERB: error:` line on (argparse prints the usage before it)."""
    lines = o.err.splitlines()
    first = next((i for i, line in enumerate(lines) if "error:" in line), None)
    return "" if first is None else "\n".join(lines[first:]).strip()


def params():
    for case in CASES:
        marks = ([pytest.mark.xfail(strict=True, reason=case.xfail, run=case.xfail_run)]
                 if case.xfail else [])
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(params()))
def test_bad_input_is_a_clear_exit_2_with_nothing_written(case: Case, tmp_path_factory):
    o = outcome(case, tmp_path_factory)
    shown = f"argv={o.argv}\nexit {o.code}\nstdout:\n{o.out}\nstderr:\n{o.err}"
    assert "Traceback" not in o.err + o.out, shown
    assert o.code == 2, shown
    msg = message(o)
    assert msg.startswith("transfer-laws"), f"no `transfer-laws VERB: error:` line\n{shown}"
    assert case.field in msg.splitlines()[0], f"the message does not name {case.field!r}\n{shown}"
    assert "Fix:" in msg, f"the message does not say what to do\n{shown}"
    assert msg.count("error:") == 1, f"one error, said once\n{shown}"
    assert not o.created, f"half-written output left behind: {o.created}\n{shown}"


def test_the_catalogue_is_large_and_ids_are_unique():
    assert len(CASES) >= 32
    assert len({c.id for c in CASES}) == len(CASES)


# ---- docs/reliability.md -------------------------------------------------------------------------
def _portable(text: str, o: Outcome) -> str:
    """Paths of the test's temporary folders and of the shared cache, made short and stable."""
    cache = os.environ.get("TRANSFER_LAWS_CACHE_DIR", "")
    text = re.sub(r"(more than this \w+'s )[\d.]+ GiB", r"\1<memory> GiB", text)  # the machine's own
    for prefix, short in ((str(o.folder.resolve()) + "/", ""), (str(o.folder) + "/", ""),
                          (str(o.folder.resolve()), "."), (str(o.folder), "."),
                          (cache, "$CACHE"), (str(REPO) + "/", "")):
        if prefix:
            text = text.replace(prefix, short)
    return text


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def catalogue(tmp_path_factory) -> str:
    rows = ["| # | case | command | message (exit 2) |", "|---|---|---|---|"]
    for i, case in enumerate(CASES, 1):
        if case.xfail:  # not run here: only its command is built
            folder = tmp_path_factory.mktemp(case.id, numbered=True)
            o = Outcome(case.build(folder), 0, "", "", [], folder)
            text = f"*known gap (xfail)*: {case.xfail}"
        else:
            o = outcome(case, tmp_path_factory)
            text = " ".join(_portable(message(o), o).split()) or "(no error message)"
        command = "transfer-laws " + " ".join(_portable(a, o) for a in o.argv)
        how = " (run as a subprocess)" if case.subprocess else ""
        rows.append(f"| {i} | **{case.id}**: {_cell(case.what)} | `{_cell(command)}`{how} | "
                    f"{_cell(text)} |")
    return "\n".join(rows)


SKELETON = f"""# Reliability

What the project promises when things go wrong, and the tests that hold it to it.

## Bad input

Every bad input stops before any work starts, with exit code 2 and one line
`transfer-laws VERB: error: FIELD = VALUE: PROBLEM. Fix: WHAT TO DO` (tasks/common/errors.py, flows/cli.py),
no traceback, and nothing half-written in the project folder (no run folder, MLflow store or report).

The table below is generated by `tests/test_bad_inputs.py` from the messages the code prints now
(paths are shown relative to the case's folder; `$CACHE` is the data cache). The test fails with a
diff when this file is out of date; regenerate it with
`UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_bad_inputs.py` and commit it. Edit anything
outside the markers by hand.

{START}
{END}

## Fault injection

See tests/… (to be written).

## Concurrency

See tests/… (to be written).

## Resource faults

See tests/… (to be written).

## Security

See tests/… (to be written).
"""


def rendered(current: str, table: str) -> str:
    if START not in current or END not in current:
        current = SKELETON
    head, rest = current.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def test_docs_reliability_catalogue_matches_the_code(tmp_path_factory):
    current = DOC.read_text() if DOC.exists() else ""
    wanted = rendered(current, catalogue(tmp_path_factory))
    if wanted == current:
        return
    if os.environ.get("UPDATE_DOCS") == "1":
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(wanted)
        return
    diff = "".join(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True),
                                        "docs/reliability.md (committed)", "docs/reliability.md (code)"))
    pytest.fail("docs/reliability.md is out of date with the messages the code prints; run\n"
                "  UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_bad_inputs.py\n"
                f"and commit the file.\n{diff}")

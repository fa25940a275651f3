"""A sweep's sources made of pre-trained checkpoints (an open suite such as Pythia, or causal-LM folders):
find each checkpoint's files and describe it from its config, before anything trains.

A checkpoint is a local folder (saved with `save_pretrained`) or `hf:OWNER/NAME` with an optional
revision, found in the Hugging Face cache first (the hub's own layout, so a name works offline once
cached) and otherwise fetched where a network exists. Planning (dry-run, status) fetches only the
config and tokenizer files; the weights (safetensors only) are fetched when the sweep runs. The
sizes, the architectures and the tokenizer come from the configs (`model.suite.describe`). Every
checkpoint of one source shares one tokenizer; two suites of one sweep share their architectures
(scratch baselines are trained once for both). Each error names the field
(`experiment.sources.NAME.checkpoints[i]`), the value and the fix.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from transfer_laws.model.suite import CheckpointInfo, describe, has_weights
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.tokenizer import TOKENIZER_FILES

HUB_PREFIX = "hf:"
CONFIG_FILES = ["config.json", "generation_config.json", *TOKENIZER_FILES]
WEIGHTS = ["*.safetensors", "*.safetensors.index.json"]


UNFETCHED = "unfetched"  # the identity of a hub checkpoint priced from its published shape


@dataclass(frozen=True)
class SuiteCheckpoint:
    spec: str  # as written: a folder or hf:NAME
    info: CheckpointInfo
    key: str  # the weights' identity, a fine-tune's init_key: hf:NAME@commit, or sha256 of the files

    @property
    def fetched(self) -> bool:
        """False for a hub checkpoint not cached here, priced from its published shape (configs/suites)."""
        return not self.key.endswith("@" + UNFETCHED)


@dataclass(frozen=True)
class Suite:
    """One checkpoint source, its checkpoints in ascending N."""

    name: str
    checkpoints: tuple[SuiteCheckpoint, ...]

    @property
    def tokenizer(self) -> str:
        return self.checkpoints[0].info.tokenizer

    @property
    def fetched(self) -> bool:
        """False when any checkpoint is priced from its published shape (nothing of it cached here)."""
        return all(c.fetched for c in self.checkpoints)


def largest_model(sources: dict, n_ctx: int):
    """The largest architecture of a sweep's suites at context `n_ctx` (None for corpus sources):
    what `runs_per_gpu: auto` and the memory check size the slots by."""
    suites = [s for s in sources.values() if isinstance(s, Suite)]
    return suites[0].checkpoints[-1].info.architecture.at(n_ctx) if suites else None


def checkpoint_folder(spec: str, revision: str | None = None, field: str = "checkpoints",
                      weights: bool = False) -> Path:
    """The local folder holding the checkpoint's config and tokenizer files (and with `weights`
    its safetensors)."""
    if spec.startswith(HUB_PREFIX):
        from huggingface_hub import snapshot_download

        from transfer_laws.tasks.data.corpora.hub import check_hub_reachable

        name, patterns = spec[len(HUB_PREFIX):], CONFIG_FILES + (WEIGHTS if weights else [])
        try:
            folder = Path(snapshot_download(name, revision=revision, allow_patterns=patterns, local_files_only=True))
            if not weights or has_weights(folder):
                return folder
        except Exception:  # not in the cache (huggingface_hub raises its own error types)
            pass
        what = "a hub checkpoint whose weights are not" if weights else "a hub checkpoint not"
        try:
            check_hub_reachable(spec, field, f"{what} in the Hugging Face cache",
                                "fetch it once where the hub is reachable, or give a local checkpoint folder")
        except InputError:
            if not weights and (shape := published_shape(name)) is not None:
                return shape  # planning only: dry-run and status price it from its published shape
            raise
        try:
            return Path(snapshot_download(name, revision=revision, allow_patterns=patterns))
        except Exception as error:  # a missing or gated repo, a bad revision: user-facing
            raise InputError(field, spec, f"could not be fetched from the hub: {error}",
                             "check the name and revision, or give a local checkpoint folder") from error
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise InputError(field, spec, "is not an existing folder",
                         "give a checkpoint folder saved with save_pretrained, or hf:OWNER/NAME")
    return path


def _published_shapes() -> Path:
    """configs/suites/: configs written from suites' published shapes, shipped for planning offline."""
    from importlib.resources import files

    return Path(str(files("transfer_laws.configs"))) / "suites"


def published_shape(name: str) -> Path | None:
    """The folder of the published-shape config of hub checkpoint `name` (OWNER/NAME), or None."""
    folder = _published_shapes() / name
    return folder if (folder / "config.json").is_file() and ".." not in name else None


def describe_checkpoints(entries: list[tuple[str, str | None]], field: str,
                         weights: bool = False) -> list[SuiteCheckpoint]:
    """Each (spec, revision) of one source found and described (with `weights`: its safetensors
    fetched too); they must share one tokenizer."""
    found = []
    for i, (spec, revision) in enumerate(entries):
        where = f"{field}[{i}]"
        folder = checkpoint_folder(spec, revision, where, weights)
        try:
            info = describe(folder)
        except ValueError as error:
            raise InputError(where, spec, str(error), "give the folder (or hub name) of a causal language "
                             "model that transformers builds (AutoModelForCausalLM)") from None
        if _published_shapes() in folder.parents:  # priced offline; `run` fetches the real files
            found.append(SuiteCheckpoint(spec, info, f"{spec}@{UNFETCHED}"))
            continue
        if not info.tokenizer:
            raise InputError(where, spec, "has no tokenizer.json beside its config",
                             "save the suite's tokenizer into the folder (tokenizer.save_pretrained)")
        hub = spec.startswith(HUB_PREFIX)
        if (weights or not hub) and not has_weights(folder):
            raise InputError(where, spec, "holds no safetensors weights (model.safetensors or its index); "
                             "other weight formats are not loaded", "save the model with "
                             "save_pretrained(folder) (safetensors is its default), or convert the weights")
        key = f"{spec}@{folder.name}" if hub else _weights_digest(folder)
        found.append(SuiteCheckpoint(spec, info, key))
    first = found[0].info
    for i, c in enumerate(found[1:], 1):
        if c.fetched and found[0].fetched and c.info.tokenizer != first.tokenizer:
            raise InputError(field, [entries[0][0], entries[i][0]], "use two different tokenizers (tokenizer.json "
                             f"{first.tokenizer} against {c.info.tokenizer})", "put the checkpoints of one suite, which "
                             "share one tokenizer, in one source; another suite is another source")
    return found


_DIGESTS: dict[tuple, str] = {}


def _weights_digest(folder: Path) -> str:
    """sha256[:16] of a local checkpoint's config and safetensors files (hashed once per process
    while their sizes and times stay the same)."""
    files = sorted([folder / "config.json", *folder.glob("*.safetensors"), *folder.glob("*.safetensors.index.json")])
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if stamp not in _DIGESTS:
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
        _DIGESTS[stamp] = "sha256:" + h.hexdigest()[:16]
    return _DIGESTS[stamp]


def suites_of(cfg, weights: bool) -> dict[str, Suite]:
    """Every checkpoint source of `cfg` described (with `weights`: their safetensors fetched, as a
    run needs; without: configs and tokenizers only, as dry-run and status need). Checkpoints are
    ordered by N; two of one size, or two suites whose architectures differ, are errors."""
    suites = {}
    for name, src in cfg.experiment.sources.items():
        field = f"experiment.sources.{name}.checkpoints"
        found = describe_checkpoints([(c.path, c.revision) for c in src.checkpoints], field, weights)
        found.sort(key=lambda c: c.info.architecture.params_non_embedding)
        for a, b in zip(found, found[1:]):
            n = a.info.architecture.params_non_embedding
            if n == b.info.architecture.params_non_embedding:
                raise InputError(field, [a.spec, b.spec], f"are two checkpoints of one size (N = {n:,})",
                                 "keep one checkpoint per size")
        suites[name] = Suite(name, tuple(found))
    first = next(iter(suites.values()))
    for suite in suites.values():
        if suite.fetched and first.fetched and suite.tokenizer != first.tokenizer:
            raise InputError("experiment.sources", [first.name, suite.name], "are suites with different tokenizers",
                             "measure each suite in its own sweep")
        mine = [c.info.architecture.key for c in suite.checkpoints]
        if mine != [c.info.architecture.key for c in first.checkpoints]:
            raise InputError("experiment.sources", [first.name, suite.name], "are suites of different architectures "
                             "(their configs differ size by size)", "measure each suite in its own sweep, or "
                             "give suites of one architecture (as Pythia's standard and deduplicated models)")
    return suites

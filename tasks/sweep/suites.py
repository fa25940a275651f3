"""A sweep's sources made of pre-trained checkpoints (an open suite such as Pythia, or causal-LM folders):
find each checkpoint's files and describe it from its config, before anything trains.

A checkpoint is a local folder (saved with `save_pretrained`) or `hf:OWNER/NAME` with an optional
revision, found in the Hugging Face cache first (the hub's own layout, so a name works offline once
cached) and otherwise fetched where a network exists. Only the config and tokenizer files are
fetched here, never the weights: the sizes, the context and the tokenizer come from the config
(`model.suite.describe`). Every checkpoint of one source must share one tokenizer. Each error names
the field (`sources.NAME.checkpoints[i]`), the value and the fix.
"""
from __future__ import annotations

from pathlib import Path

from transfer_laws.model.suite import CheckpointInfo, describe
from transfer_laws.tasks.common.errors import InputError

HUB_PREFIX = "hf:"
CONFIG_FILES = ["config.json", "generation_config.json", "tokenizer*", "special_tokens_map.json", "vocab*",
                "merges.txt", "*.model"]


def checkpoint_folder(spec: str, revision: str | None = None, field: str = "checkpoints") -> Path:
    """The local folder holding the checkpoint's config and tokenizer files."""
    if spec.startswith(HUB_PREFIX):
        from huggingface_hub import snapshot_download

        from transfer_laws.tasks.data.corpora.hub import check_hub_reachable

        name = spec[len(HUB_PREFIX):]
        try:
            return Path(snapshot_download(name, revision=revision, allow_patterns=CONFIG_FILES, local_files_only=True))
        except Exception:  # not in the cache (huggingface_hub raises its own error types)
            check_hub_reachable(spec, field, "a hub checkpoint not in the Hugging Face cache",
                                "fetch it once where the hub is reachable, or give a local checkpoint folder")
            try:
                return Path(snapshot_download(name, revision=revision, allow_patterns=CONFIG_FILES))
            except Exception as error:  # a missing or gated repo, a bad revision: user-facing
                raise InputError(field, spec, f"could not be fetched from the hub: {error}",
                                 "check the name and revision, or give a local checkpoint folder") from error
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise InputError(field, spec, "is not an existing folder",
                         "give a checkpoint folder saved with save_pretrained, or hf:OWNER/NAME")
    return path


def describe_source(entries: list[tuple[str, str | None]], field: str) -> list[CheckpointInfo]:
    """Each (spec, revision) of one source, described; they must share one tokenizer."""
    infos = []
    for i, (spec, revision) in enumerate(entries):
        where = f"{field}[{i}]"
        folder = checkpoint_folder(spec, revision, where)
        try:
            info = describe(folder)
        except ValueError as error:
            raise InputError(where, spec, str(error), "give the folder (or hub name) of a causal language "
                             "model that transformers builds (AutoModelForCausalLM)") from None
        if not info.tokenizer:
            raise InputError(where, spec, "has no tokenizer.json beside its config",
                             "save the suite's tokenizer into the folder (tokenizer.save_pretrained)")
        infos.append(info)
    first = infos[0]
    for i, info in enumerate(infos[1:], 1):
        if info.tokenizer != first.tokenizer:
            raise InputError(field, [entries[0][0], entries[i][0]], "use two different tokenizers (tokenizer.json "
                             f"{first.tokenizer} against {info.tokenizer})", "put the checkpoints of one suite, which "
                             "share one tokenizer, in one source; another suite is another source")
    return infos

"""Sources made of checkpoints: local folders and `hf:` names (from a cache entry in the hub's own
layout, offline), described from their configs; each bad checkpoint an error naming the field."""
from __future__ import annotations

import shutil

import huggingface_hub.constants
import pytest
import yaml
from transformers import GPTNeoXConfig, ViTConfig

from transfer_laws.model.suite import describe
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.sweep.suites import describe_checkpoints


def describe_source(entries, field):
    """The CheckpointInfo of each (spec, revision), as a source's are described."""
    return [c.info for c in describe_checkpoints(entries, field)]


TOKENIZER = '{"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}'


def checkpoint(folder, width: int, tokenizer: str = TOKENIZER):
    """A tiny GPT-NeoX checkpoint (config and random safetensors weights) with a tokenizer.json."""
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_config(GPTNeoXConfig(
        vocab_size=512, hidden_size=width, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=4 * width, max_position_embeddings=256, tie_word_embeddings=False)).save_pretrained(folder)
    (folder / "tokenizer.json").write_text(tokenizer)
    return folder


def in_hub_cache(hub, name: str, folder, commit: str = "a" * 40, ref: str = "main"):
    """The hub's own cache layout: models--OWNER--NAME/snapshots/<commit>/, refs/<ref> naming it."""
    repo = hub / ("models--" + name.replace("/", "--"))
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)


def test_local_and_cached_hub_checkpoints_are_described_offline(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    in_hub_cache(hub, "acme/neox-64", checkpoint(tmp_path / "made", 64))
    local = checkpoint(tmp_path / "local", 32)
    infos = describe_source([(str(local), None), ("hf:acme/neox-64", None)], "sources.suite.checkpoints")
    archs = [i.architecture for i in infos]
    assert [a.family for a in archs] == ["gpt_neox", "gpt_neox"]
    assert archs[0].params_non_embedding < archs[1].params_non_embedding and archs[1].max_ctx == 256
    assert infos[1].folder.startswith(str(hub)) and infos[0].tokenizer == infos[1].tokenizer
    in_hub_cache(hub, "acme/neox-64", checkpoint(tmp_path / "older", 48), commit="b" * 40, ref="step1000")
    older = describe_source([("hf:acme/neox-64", "step1000")], "sources.suite.checkpoints")[0]
    assert older.folder.endswith("b" * 40) and \
        older.architecture.params_non_embedding < archs[1].params_non_embedding
    with pytest.raises(InputError, match=r"checkpoints\[0\] = 'hf:acme/absent': is a hub checkpoint not in "
                                         "the Hugging Face cache but HF_HUB_OFFLINE=1"):
        describe_source([("hf:acme/absent", None)], "sources.suite.checkpoints")


def test_bad_checkpoints_are_refused_naming_the_field_and_the_fix(tmp_path):
    a = checkpoint(tmp_path / "a", 32)
    other = checkpoint(tmp_path / "b", 32, TOKENIZER.replace("BPE", "Unigram"))
    with pytest.raises(InputError, match=r"sources.s.checkpoints = \[.*\]: use two different tokenizers"):
        describe_source([(str(a), None), (str(other), None)], "sources.s.checkpoints")
    with pytest.raises(InputError, match=r"checkpoints\[0\] = .*: is not an existing folder"):
        describe_source([(str(tmp_path / "nowhere"), None)], "sources.s.checkpoints")
    ViTConfig().save_pretrained(tmp_path / "vit")
    with pytest.raises(InputError, match="is not a causal language model.*Fix: give the folder"):
        describe_source([(str(tmp_path / "vit"), None)], "sources.s.checkpoints")
    (a / "model.safetensors").rename(a / "weights.bin")
    with pytest.raises(InputError, match="holds no safetensors weights"):
        describe_source([(str(a), None)], "sources.s.checkpoints")
    (a / "tokenizer.json").unlink()
    with pytest.raises(InputError, match="has no tokenizer.json"):
        describe_source([(str(a), None)], "sources.s.checkpoints")


# ---- a suite as the sources of a sweep ------------------------------------------------------------

@pytest.fixture(scope="module")
def neox_suite(tmp_path_factory):
    """Two tiny Pythia-layout checkpoints, pre-trained here for a few steps (tests/suite_fixtures.py)."""
    from tests.suite_fixtures import tiny_suite

    return tiny_suite(tmp_path_factory.mktemp("suite"))


def with_(values: dict, **over) -> dict:
    """`values` (a nested config) with each setting put in its group (GROUP_OF)."""
    from transfer_laws.tasks.sweep.config import GROUP_OF

    cfg = {group: dict(fields) if isinstance(fields, dict) else fields for group, fields in values.items()}
    for key, value in over.items():
        cfg.setdefault(GROUP_OF[key], {})[key] = value
    return cfg


def suite_config(suite, tmp_path, **over) -> dict:
    from tests.test_sweep_flow import micro_config

    cfg = yaml.safe_load(micro_config(tmp_path).read_text())
    for key in ("sizes", "pretrain_tokens"):
        del cfg["experiment"][key]
    cfg["experiment"]["sources"] = {"neox": {"checkpoints": [str(f) for f in reversed(suite)]}}  # any order
    return with_(cfg, **over)


def planned(values: dict, tmp_path, device_kind: str = "cpu"):
    from transfer_laws.tasks.sweep.config import SweepConfig
    from transfer_laws.tasks.sweep.run_graph import run_graph
    from transfer_laws.tasks.sweep.units import preview_all

    cfg = SweepConfig.checked(values)
    target, sources, _ = preview_all(cfg, tmp_path / "cache")
    return cfg, run_graph(cfg, target, sources, tmp_path / "runs", device_kind=device_kind)


def test_a_suite_plans_scratch_baselines_of_its_architectures_and_fine_tunes_from_its_weights(neox_suite, tmp_path):
    from transfer_laws.model.suite import canonical_json

    cfg, runs = planned(suite_config(neox_suite, tmp_path), tmp_path)
    assert cfg.experiment.tokenizer == str(neox_suite[-1].resolve()) and cfg.suite()
    kinds = [r.kind for r in runs]
    assert kinds.count("pretrain") == 0 and kinds.count("zeroshot") == 2
    assert kinds.count("scratch") == 2 * 4 and kinds.count("finetune") == 2 * 2
    for folder in neox_suite:
        info = describe(folder)
        mine = [r for r in runs if r.config.architecture == canonical_json(folder / "config.json")]
        assert {r.kind for r in mine} == {"zeroshot", "scratch", "finetune"}
        assert {r.n for r in mine} == {info.architecture.params_non_embedding} and mine[0].shape.family == "gpt_neox"
        started = [r for r in mine if r.kind != "scratch"]
        assert {r.config.init_from for r in started} == {str(folder.resolve())}
        assert all(r.config.init_key.startswith("sha256:") and r.parent == "" for r in started)
        assert all(r.config.init_from is None for r in mine if r.kind == "scratch")
    assert [r.run_key for r in planned(suite_config(neox_suite, tmp_path), tmp_path)[1]] == [r.run_key for r in runs]
    # other weights under the same config: the fine-tunes are other runs, the scratch baselines are not
    weights = neox_suite[0] / "model.safetensors"
    saved = weights.read_bytes()
    try:
        weights.write_bytes(saved[:-4] + bytes(4))
        again = {r.run_key for r in planned(suite_config(neox_suite, tmp_path), tmp_path)[1]}
    finally:
        weights.write_bytes(saved)
    changed = {r.kind for r in runs if r.run_key not in again}
    assert changed == {"zeroshot", "finetune"} and all(r.run_key in again for r in runs if r.kind == "scratch")


def test_suite_settings_that_would_be_ignored_are_refused_before_anything_trains(neox_suite, tmp_path):
    from transfer_laws.tasks.sweep.config import SweepConfig

    base = suite_config(neox_suite, tmp_path)
    for over, words in ((dict(sizes=[1e4, 1e5]), r"experiment\.sizes = \[10000.0, 100000.0\]: not used with checkpoint sources .*Fix: remove it"),
                        (dict(pretrain_tokens=1000), r"experiment\.pretrain_tokens = 1000: not used"),
                        (dict(family="llama"), r"experiment\.family = 'llama': not used"),
                        (dict(tokenizer="bytes"), r"experiment\.tokenizer = 'bytes': not used"),
                        (dict(sources={**base["experiment"]["sources"], "py": {"corpus": "python"}}), "is a corpus but"),
                        (dict(sources={"neox": {"checkpoints": [str(neox_suite[0])]}}), "needs at least 2")):
        with pytest.raises(InputError, match=words):
            SweepConfig.checked(with_(base, **over))
    with pytest.raises(InputError, match=r"n_ctx = 128: is longer than the 64 tokens"):
        planned(with_(base, n_ctx=128), tmp_path)
    from transfer_laws.tasks.sweep.run_graph import check_suite
    from transfer_laws.tasks.sweep.units import preview_all

    huge = SweepConfig.checked(with_(base, batch_size=4_000_000))
    target, sources, _ = preview_all(huge, tmp_path / "cache")
    with pytest.raises(InputError, match=r"checkpoints = '.*neox-64': needs about [\d.]+ GiB to train at "
                                         r"batch_size=4000000, n_ctx=32 \(2 runs at once\) .* more than this "
                                         r"cpu's [\d.]+ GiB"):
        check_suite(huge, target, sources, "cpu", 2)
    check_suite(SweepConfig.checked(base), target, sources, "cpu", 2)  # the sweep's own batch fits
    with pytest.raises(InputError, match="only an hf: name has revisions"):
        SweepConfig.checked(with_(base, sources={"neox": {"checkpoints": [
            {"path": str(neox_suite[0]), "revision": "v1"}, str(neox_suite[1])]}}))
    again = SweepConfig.checked(SweepConfig.checked(base).model_dump())  # as Prefect re-validates a parameter
    assert again.experiment.tokenizer == str(neox_suite[-1].resolve()) and again.config_hash() == SweepConfig.checked(base).config_hash()


def test_a_checkpoint_saved_in_half_precision_loads_in_fp32(neox_suite, tmp_path):
    import torch

    from transfer_laws.model.build import load_pretrained

    model = load_pretrained(neox_suite[0])
    model.half().save_pretrained(tmp_path / "fp16")
    again = load_pretrained(tmp_path / "fp16")
    assert {p.dtype for p in again.parameters()} == {torch.float32}


def test_a_suites_fine_tune_lr_is_searched_per_size_from_the_checkpoint(neox_suite, tmp_path):
    _, runs = planned(suite_config(neox_suite, tmp_path, finetune_lr_search={"scales": [0.3, 1.0], "tokens": 4000}),
                      tmp_path)
    searches = [r for r in runs if r.kind == "lr-search"]
    assert len(searches) == 2 * 2 and all(r.parent == "" for r in searches)
    for r in (r for r in runs if r.kind == "finetune"):
        mine = {s.run_key for s in searches if s.n == r.n}
        assert set(r.after) == mine == set(r.config.lr_search)
        assert {s.config.init_from for s in searches if s.n == r.n} == {r.config.init_from}


PYTHIA_N = {"14m": 1_189_888, "31m": 4_739_072, "70m": 18_915_328, "160m": 85_056_000, "410m": 302_311_424}


def test_pythia_python_dry_runs_and_plans_offline_from_the_published_shapes(tmp_path, monkeypatch, capsys):
    """configs/pythia-python.yaml with no hub: the five checkpoints are priced from the configs written
    from Pythia's published shapes (configs/suites), whose exact non-embedding N is the README's
    (18,915,328 for 70m, 85,056,000 for 160m, 302,311,424 for 410m); every run_key waits for the
    fetch, and nothing is timed with --no-timing."""
    from transfer_laws.flows.cli import main
    from transfer_laws.tasks.sweep.suites import published_shape

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    for size, n in PYTHIA_N.items():
        assert describe(published_shape(f"EleutherAI/pythia-{size}")).architecture.params_non_embedding == n
    assert main(["dry-run", "pythia-python", "--no-timing", "--home", str(tmp_path / "home")]) == 0
    out = capsys.readouterr().out
    for size, n in PYTHIA_N.items():
        assert f"N={n:,} context 2,048 from hf:EleutherAI/pythia-{size} (not in the Hugging Face cache" in out
    assert "total: 75 runs (5 zeroshot, 15 lr-search, 30 scratch, 25 finetune)" in out and "not timed" in out
    rows = [line for line in out.splitlines() if line.split()[:1] in (["zeroshot"], ["scratch"], ["finetune"])]
    assert len(rows) == 60 and all(line.endswith("(unfetched)") for line in rows)
    assert not (tmp_path / "home" / "mlflow.db").exists()
    # the precision planner simulates the suite's grid: its five sizes, no pre-training cap
    assert main(["plan", "pythia-python", "--draws", "8", "--home", str(tmp_path / "home")]) == 0
    out = capsys.readouterr().out
    assert "grid: 5 sizes, 6 scratch D, 5 D_F, 1 seed(s) a point" in out and "8 simulated sweeps" in out
    assert main(["plan", "pythia-python", "--budget-minutes", "60", "--home", str(tmp_path / "home")]) == 2
    assert "--budget-minutes = 60.0: searches sizes and pre-training budgets" in capsys.readouterr().err


def test_a_suite_checkpoint_fine_tunes_through_the_training_core_and_a_wrong_one_is_refused(neox_suite, tmp_path):
    """The run a sweep plans for a GPT-NeoX checkpoint, trained in process: it loads the checkpoint's
    weights for its architecture and reports the architecture's N; weights of another architecture
    are refused before a step, naming both."""
    from transfer_laws.model.suite import canonical_json
    from transfer_laws.tasks.data.corpora import resolve_corpus
    from transfer_laws.tasks.data.prepare import prepare
    from transfer_laws.tasks.data.tokenizer import encoder_from_folder
    from transfer_laws.tasks.train.config import RunConfig
    from transfer_laws.tasks.train.core import train

    small, large = neox_suite
    root = small.parent.parent
    data = prepare(resolve_corpus(str(root / "english"), root / "cache"), root / "cache", 0.1,
                   encoder=encoder_from_folder(small, str(small)))
    run = dict(kind="finetune", architecture=canonical_json(small / "config.json"), init_from=str(small),
               n_ctx=32, vocab_size=data.vocab_size, tokenizer=data.tokenizer, batch_size=8, lr=1e-3, min_lr=1e-4,
               warmup_steps=2, max_steps=10, eval_interval=5, eval_tokens=1024, patience=0, threads=1,
               dataset_tokens=2000, data_dir=data.root, data_key=data.key)
    result = train(RunConfig(**run, out_dir=str(tmp_path / "ft")))
    assert result.params_non_embedding == describe(small).architecture.params_non_embedding and result.best_test_loss < 7
    wrong = {**run, "architecture": canonical_json(large / "config.json")}
    with pytest.raises(InputError, match=r"init_from = .*neox-32': holds a gpt_neox model of [\d,]+ parameters, "
                                         r"but this run asks for gpt_neox L=2 d=64"):
        train(RunConfig(**wrong, out_dir=str(tmp_path / "wrong")))

"""Sweep configs: every bad value is rejected before any training, with the field named."""
from __future__ import annotations

import pytest
import yaml

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.corpora import Corpus, Document
from transfer_laws.tasks.data.prepare import prepare
from transfer_laws.tasks.sweep.config import GROUP_OF, GROUPS, MIN_FINETUNE_SIZES, MIN_SIZES, SweepConfig
from transfer_laws.tasks.sweep.run_graph import check_against_data, run_graph
from transfer_laws.tasks.sweep.run_rules import kaplan_lr

GOOD = {"experiment": dict(name="t", target="python", sources={"code": {"corpus": "code-other"}},
                           sizes=[1e4, 3e4, 1e5], finetune_tokens=[10_000, 30_000], pretrain_tokens=100_000)}


def with_(**over):
    """GOOD with each override put in its group (GROUP_OF); a key of no group stays at the top level,
    and None removes a setting."""
    cfg = {group: dict(fields) for group, fields in GOOD.items()}
    for key, value in over.items():
        where = cfg.setdefault(GROUP_OF[key], {}) if key in GROUP_OF else cfg
        if value is None:
            where.pop(key, None)
        else:
            where[key] = value
    return cfg


def flat(values: dict) -> dict:
    """A nested config as it was written before the groups: every setting a top-level key."""
    return {k: v for group, fields in values.items() for k, v in (fields.items() if group in GROUPS else [(group, fields)])}


def test_good_config_loads_from_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    cfg = SweepConfig.load(path)
    assert cfg.experiment.sizes == [1e4, 3e4, 1e5] and cfg.scratch_grid() == [10_000, 30_000]
    assert kaplan_lr(1e5) == pytest.approx(0.003239 - 0.0001395 * 11.512925, rel=1e-6)


@pytest.mark.parametrize("over,field,needle", [
    (dict(target="no-such-corpus"), "experiment.target", "neither a registered corpus"),
    (dict(sources={"x": {"corpus": "nowhere/at/all"}}), "experiment.sources.x", "neither a registered corpus"),
    (dict(sizes=[1e4, 1e4, 1e5]), "experiment.sizes", "duplicate sizes"),
    (dict(sizes=[1e4, 1.05e4, 1e5]), "experiment.sizes", "map to the same shape"),
    (dict(sizes=[1e4, -3, 1e5]), "experiment.sizes", "positive"),
    (dict(sizes=[1e4, "big", 1e5]), "experiment.sizes.1", "valid number"),
    (dict(finetune_tokens=[10_000, 0]), "experiment.finetune_tokens", "positive"),
    (dict(finetune_tokens=[10_000, 10_000]), "experiment.finetune_tokens", "duplicate"),
    (dict(pretrain_tokens=0), "experiment.pretrain_tokens", "positive number of tokens"),
    (dict(batch_size="many"), "optimiser.batch_size", "valid integer"),
    (dict(sources={"mix": {"mixture": {"english": 0.5, "code-other": 0.4}}}), "experiment.sources.mix",
     "sum to 0.9, not 1"),
    (dict(sources={"mix": {"mixture": {"english": 1.0}}}), "experiment.sources.mix", "at least two"),
    (dict(sizes=[1e5]), "experiment.sizes", f"needs at least {MIN_SIZES}"),
    (dict(finetune_tokens=[10_000]), "experiment.finetune_tokens", f"needs at least {MIN_FINETUNE_SIZES}"),
    (dict(sources={}), "experiment.sources", "at least 1"),
    (dict(learning_rate=1e-3), "learning_rate", "Extra inputs"),
    (dict(finetune_lr_search={"scales": [0.5, 2], "tokens": 10_000}), "optimiser.finetune_lr_search",
     "is one of finetune_tokens"),
    (dict(finetune_lr_search={"scales": [0.5, 2], "tokens": 20_000}, finetune_lr_scale=0.5),
     "optimiser.finetune_lr_scale", "not both"),
    (dict(finetune_lr_search={"scales": [1.0], "tokens": 20_000}), "optimiser.finetune_lr_search.scales",
     "at least 2"),
    (dict(finetune_lr_search={"scales": [1.0, -1], "tokens": 20_000}), "optimiser.finetune_lr_search.scales",
     "positive"),
    (dict(pretrain_tokens=[100_000, 200_000]), "experiment.pretrain_tokens", "2 budgets given for 3 sizes"),
    (dict(pretrain_tokens=[100_000, 200_000, 0]), "experiment.pretrain_tokens", "positive"),
    (dict(sizes=[1e5, 1e4, 3e4], pretrain_tokens=[1, 2, 3]), "experiment.sizes", "ascending order"),
    (dict(runs_per_gpu=0), "execution.runs_per_gpu", "at least 1"),
    (dict(compile="sometimes"), "execution.compile", "auto"),
    (dict(curve_form="cubic"), "fit.curve_form", "'current', 'bansal', 'piecewise' or 'auto'"),
    (dict(warmup_steps=500, max_steps=500), "optimiser.warmup_steps", "inside its warm-up"),
])
def test_bad_config_names_the_field(over, field, needle):
    with pytest.raises(InputError) as err:
        SweepConfig.checked(with_(**over))
    assert err.value.field == field and needle in str(err.value) and "Fix:" in str(err.value), str(err.value)


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        SweepConfig.load(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("sizes: [1, 2\n")
    with pytest.raises(InputError, match="not valid YAML"):
        SweepConfig.load(tmp_path / "bad.yaml")


def test_d_f_beyond_the_target_data_is_rejected_before_training(tmp_path):
    docs = [Document(f"f{i}.py", "x = 1\n" * 200) for i in range(40)]
    target = prepare(Corpus.build("small", [Document(d.doc_id, d.text + str(i)) for i, d in enumerate(docs)],
                                  "g", "n"), tmp_path)
    cfg = SweepConfig.checked(with_(finetune_tokens=[1000, target.train_tokens + 1]))
    with pytest.raises(InputError) as err:
        check_against_data(cfg, target)
    assert err.value.field == "experiment.finetune_tokens" and f"{target.train_tokens:,} training tokens" in str(err.value)
    with pytest.raises(InputError):
        run_graph(cfg, target, {"code": target}, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_plan_orders_pretrains_first_and_links_each_finetune_to_its_own_pretrain(tmp_path):
    docs = [Document(f"f{i}.py", f"v{i} = {i}\n" * 300) for i in range(40)]
    data = prepare(Corpus.build("small", docs, "g", "n"), tmp_path)
    cfg = SweepConfig.checked(with_(finetune_tokens=[1000, 2000], scratch_tokens=[4000]))
    runs = run_graph(cfg, data, {"code": data}, tmp_path / "runs")
    kinds = [r.kind for r in runs]
    assert kinds[:6] == ["pretrain"] * 3 + ["zeroshot"] * 3  # each pre-trained model, before fine-tuning
    assert kinds.count("scratch") == 9 and kinds.count("finetune") == 6
    d = [r.config.dataset_tokens for r in runs[6:]]
    assert d == sorted(d)  # smallest data sets first, the long large-D runs last
    for r in runs:  # a fine-tune takes >= 4 steps per pass over D_F, and evaluates once a pass or more
        c = r.config
        if r.kind == "finetune":
            assert c.batch_size == {1000: 1, 2000: 3}[c.dataset_tokens]
            assert c.dataset_tokens / (c.batch_size * c.n_ctx) >= cfg.optimiser.finetune_steps_per_epoch
            assert c.eval_interval * c.batch_size * c.n_ctx <= c.dataset_tokens + c.batch_size * c.n_ctx
        elif r.kind == "scratch":
            assert c.batch_size == cfg.optimiser.batch_size
        elif r.kind == "zeroshot":
            assert c.dataset_tokens is None and c.init_key == r.parent
    keys = [r.run_key for r in runs]
    assert len(set(keys)) == len(keys)
    pre = {r.run_key: r for r in runs if r.kind == "pretrain"}
    for r in runs:
        if r.kind in ("finetune", "zeroshot"):
            assert pre[r.parent].shape == r.shape
            assert r.config.init_from == str(tmp_path / "runs" / r.parent / "best")
    again = run_graph(cfg, data, {"code": data}, tmp_path / "runs")
    assert [r.run_key for r in again] == keys  # planning is deterministic


def test_a_config_without_the_newer_fields_keeps_its_hash():
    """Sweeps written before `finetune_lr_search` and `replicates` must find their MLflow parent
    run again."""
    cfg = SweepConfig.checked(with_(zero_shot=False, finetune_steps_per_epoch=0))  # as before
    newer = {"home", "slots", "threads_per_run", "device", "executor", "deployment", "tracking_uri",
             "finetune_lr_search", "replicates", "pretrain_replicates", "runs_per_gpu", "compile",
             "pretrain_patience", "curve_form", "zero_shot", "finetune_steps_per_epoch", "family", "kv_group",
             "tie_embeddings", "tokenizer"}
    payload = {k: v for k, v in flat(cfg.model_dump()).items() if k not in newer}  # the flat fields of before
    for source in payload["sources"].values():  # a source's fields as they were before suites
        del source["checkpoints"]
    import hashlib
    import json
    assert cfg.config_hash() == hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    searched = SweepConfig.checked(with_(finetune_lr_search={"scales": [0.5, 2], "tokens": 20_000}))
    assert searched.config_hash() != cfg.config_hash()
    # today's defaults (zero-shot runs, fine-tune batches cut to D_F) plan other runs: another sweep
    assert SweepConfig.checked(GOOD).config_hash() != cfg.config_hash()


def test_a_flat_config_still_loads_with_one_warning_naming_each_keys_new_place():
    """Configs written before the groups keep loading, with one FutureWarning that says where each
    flat key now lives, and they are the same sweep (the same config hash) as the nested form."""
    nested = with_(batch_size=16, compile=False, home="/tmp/somewhere", curve_form="bansal")
    old = flat(nested)
    assert set(old) == {"name", "target", "sources", "sizes", "finetune_tokens", "pretrain_tokens",
                        "batch_size", "compile", "home", "curve_form"}
    with pytest.warns(FutureWarning, match="flat sweep-config keys are deprecated") as caught:
        cfg = SweepConfig.checked(old)
    assert len(caught) == 1 and caught[0].category is FutureWarning, [str(w.message) for w in caught]
    message = str(caught[0].message)
    for key in old:
        assert f"{key} -> {GROUP_OF[key]}.{key}" in message, (key, message)
    assert "sizes -> experiment.sizes" in message and "batch_size -> optimiser.batch_size" in message
    assert "compile -> execution.compile" in message and "home -> tracking.home" in message
    assert "curve_form -> fit.curve_form" in message
    same = SweepConfig.checked(nested)
    assert cfg.config_hash() == same.config_hash()
    assert cfg.model_dump() == same.model_dump()


def test_a_key_given_both_flat_and_inside_its_group_is_refused_naming_the_field():
    """Neither place may silently win: the key is refused by its dotted name, before any warning."""
    with pytest.raises(InputError) as err:
        SweepConfig.checked({**GOOD, "sizes": [1e4, 3e4]})  # GOOD holds experiment.sizes already
    assert err.value.field == "experiment.sizes" and "given twice" in str(err.value), str(err.value)
    with pytest.raises(InputError) as err:
        SweepConfig.checked({**with_(batch_size=16), "batch_size": 16})  # even with the same value
    assert err.value.field == "optimiser.batch_size" and "given twice" in str(err.value), str(err.value)


def test_lr_search_plans_candidates_per_size_and_source_that_every_finetune_waits_for(tmp_path):
    docs = [Document(f"f{i}.py", f"v{i} = {i}\n" * 300) for i in range(40)]
    data = prepare(Corpus.build("small", docs, "g", "n"), tmp_path)
    cfg = SweepConfig.checked(with_(finetune_tokens=[1000, 4000], pretrain_tokens=[500_000, 600_000, 700_000],
                                    finetune_lr_search={"scales": [2, 0.5, 1], "tokens": 2000}))
    runs = run_graph(cfg, data, {"code": data, "more": data}, tmp_path / "runs")
    search = [r for r in runs if r.kind == "lr-search"]
    assert len(search) == 3 * 2 * 3 and {r.config.dataset_tokens for r in search} == {2000}
    pre = {r.run_key: r for r in runs if r.kind == "pretrain"}
    steps = sorted({(r.n, r.config.max_steps) for r in pre.values()})
    per_step = cfg.optimiser.batch_size * cfg.experiment.n_ctx
    assert [s for _, s in steps] == [-(-t // per_step) for t in (500_000, 600_000, 700_000)]
    for r in runs:
        if r.kind != "finetune":
            continue
        mine = [s for s in search if s.parent == r.parent]
        assert set(r.after) == {s.run_key for s in mine} and len(mine) == 3
        assert r.config.lr_search == {s.run_key: s.config.lr for s in mine}
        base = kaplan_lr(r.n)
        assert sorted(r.config.lr_search.values()) == pytest.approx([0.5 * base, base, 2 * base])
        # the lr it will train with does not change its identity (known before the search ends)
        losses = {s.run_key: 3.0 - s.config.lr for s in mine}  # the largest lr wins
        chosen = r.config.with_chosen_lr(losses)
        assert chosen.lr == pytest.approx(2 * base) and chosen.run_key() == r.run_key
        assert chosen.min_lr / chosen.lr == pytest.approx(cfg.optimiser.min_lr_ratio)
        tie = r.config.with_chosen_lr({k: 1.0 for k in losses})
        assert tie.lr == pytest.approx(0.5 * base)  # ties go to the smaller lr
        with pytest.raises(RuntimeError, match="no finished candidate"):
            r.config.with_chosen_lr({s.run_key: 1.0 for s in mine[:2]})
    plain = run_graph(SweepConfig.checked(with_(finetune_tokens=[1000, 4000])), data, {"code": data},
                 tmp_path / "runs")
    assert all(not r.after and not r.config.lr_search for r in plain)


def test_pretrain_patience_applies_to_the_pretrains_only(tmp_path):
    docs = [Document(f"f{i}.py", f"v{i} = {i}\n" * 300) for i in range(40)]
    data = prepare(Corpus.build("small", docs, "g", "n"), tmp_path)
    default = run_graph(SweepConfig.checked(with_(patience=3)), data, {"code": data}, tmp_path / "runs")
    assert {r.config.patience for r in default} == {3}
    full = run_graph(SweepConfig.checked(with_(patience=3, pretrain_patience=0)), data, {"code": data},
                tmp_path / "runs")
    assert {r.config.patience for r in full if r.kind == "pretrain"} == {0}
    assert {r.config.patience for r in full if r.kind != "pretrain"} == {3}
    same = [r.run_key for r in default if r.kind == "scratch"]
    assert same == [r.run_key for r in full if r.kind == "scratch"]  # only the pre-trains change


def test_help_config_lists_every_field_of_every_model_with_its_default(capsys):
    """`transfer-laws run --help-config` is generated from the models: every field of the sweep, of a
    source, a checkpoint and the lr search is listed with its default (or required) and description."""
    from transfer_laws.flows.cli import main
    from transfer_laws.tasks.sweep.config import Checkpoint, LrSearch, Source

    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help-config"])  # no CONFIG needed, as with --help
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for group, model in GROUPS.items():  # each group a section headed by its YAML key
        assert f"\n{group}: {' '.join((model.__doc__ or '').split()[:4])}" in text, group
    for model in (*GROUPS.values(), Source, Checkpoint, LrSearch):
        for name, info in model.model_fields.items():
            assert f"\n  {name}: " in text, name
            assert " ".join((info.description or "").split()[:4]) in " ".join(text.split()), name
    assert "  warmup_steps: int  [50]" in text and "  sources: dict[str, Source]  [required]" in text
    assert "\nLrSearch: Fine-tuning lr chosen once per (size, source) on a held-out D_F" in text


def test_a_misspelt_field_is_answered_with_the_nearest_real_one():
    with pytest.raises(InputError) as err:
        SweepConfig.checked(with_(batchsize=16))
    assert err.value.field == "batchsize"
    assert "did you mean 'optimiser.batch_size'?" in err.value.fix and "--help-config" in err.value.fix


def test_a_sweep_one_run_and_the_train_verb_share_one_set_of_defaults():
    """Defined once (RunConfig): the settings a sweep shares with its runs, and the `train` verb's
    generated flags, default to the run's values; a sweep's min_lr_ratio is a run's min_lr / lr."""
    from transfer_laws.flows.cli import build_parser
    from transfer_laws.flows.cli_train import FLAG_GROUPS, settings
    from transfer_laws.tasks.train.config import RunConfig

    run = RunConfig.model_fields
    for name in ("n_ctx", "batch_size", "warmup_steps", "max_steps", "eval_interval", "eval_tokens", "patience",
                 "seed", "device", "processes_per_run"):
        assert GROUPS[GROUP_OF[name]].model_fields[name].default == run[name].default, name
    assert GROUPS["optimiser"].model_fields["min_lr_ratio"].default == \
        pytest.approx(run["min_lr"].default / run["lr"].default)
    args = build_parser().parse_args(["train", "--text", "x.txt"])
    assert settings(args) == {n: run[n].default for names in FLAG_GROUPS.values() for n in names}


def test_the_train_verb_layers_flags_over_a_preset_over_the_defaults(tmp_path):
    from transfer_laws.flows.cli import build_parser
    from transfer_laws.flows.cli_train import settings

    parse = build_parser().parse_args
    reference = settings(parse(["train", "--text", "x.txt", "--preset", "tinyshakespeare"]))
    assert (reference["n_ctx"], reference["batch_size"], reference["max_steps"], reference["warmup_steps"]) == \
        (64, 12, 2000, 100)  # nanoGPT's CPU reference (configs/runs/tinyshakespeare.yaml)
    given = settings(parse(["train", "--text", "x.txt", "--n-ctx", "128", "--preset", "tinyshakespeare",
                            "--no-tie-embeddings", "--d-tokens", "5000"]))
    assert (given["n_ctx"], given["batch_size"], given["tie_embeddings"], given["dataset_tokens"]) == \
        (128, 12, False, 5000)  # a flag wins wherever it stands
    (tmp_path / "p.yaml").write_text("n_ctx: 32\nlearning_rate: 0.1\n")
    with pytest.raises(InputError) as err:
        settings(parse(["train", "--text", "x.txt", "--preset", str(tmp_path / "p.yaml")]))
    assert err.value.field == "--preset" and "learning_rate" in err.value.problem


def test_updated_replaces_a_setting_in_its_group_and_validates_the_result():
    cfg = SweepConfig.checked(with_())
    again = cfg.updated(replicates=2, home="/tmp/elsewhere")
    assert again.experiment.replicates == 2 and again.tracking.home == "/tmp/elsewhere"
    assert again.config_hash() != cfg.config_hash() == cfg.updated(home="/x").config_hash()  # home: not hashed
    with pytest.raises(InputError) as err:
        cfg.updated(replicate=2)
    assert err.value.field == "replicate" and "did you mean 'replicates'?" in err.value.fix
    with pytest.raises(InputError) as err:
        cfg.updated(sizes=[1e4])
    assert err.value.field == "experiment.sizes"

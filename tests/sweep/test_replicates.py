"""Replicates: R seeds per point change run_keys only by the seed (and, for a fine-tune, by the
pre-train replicate it starts from); one replicate plans exactly the runs of before."""
from __future__ import annotations

import pytest

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.corpora import Corpus, Document
from transfer_laws.tasks.data.prepare import prepare
from transfer_laws.tasks.sweep.config import GROUP_OF, SweepConfig
from transfer_laws.tasks.sweep.run_graph import kind_counts, run_graph

BASE = {"experiment": dict(name="t", target="python", sources={"code": {"corpus": "code-other"}},
                           sizes=[1e4, 3e4], finetune_tokens=[1000, 2000], scratch_tokens=[4000],
                           pretrain_tokens=100_000, seed=7)}


def with_(**over) -> dict:
    """BASE with each setting put in its group (GROUP_OF)."""
    cfg = {group: dict(fields) for group, fields in BASE.items()}
    for key, value in over.items():
        cfg.setdefault(GROUP_OF[key], {})[key] = value
    return cfg


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    docs = [Document(f"f{i}.py", f"v{i} = {i}\n" * 300) for i in range(40)]
    return prepare(Corpus.build("small", docs, "g", "n"), tmp_path_factory.mktemp("data"))


def planned(tmp_path, data, **over):
    return run_graph(SweepConfig.checked(with_(**over)), data, {"code": data}, tmp_path / "runs")


def _identity(run, parent_seed_of: dict) -> str:
    """A run's config with its seed (and its parent's seed) set back to the first replicate's."""
    update = {"seed": BASE["experiment"]["seed"], "out_dir": "-"}
    if run.parent:
        update["init_key"] = parent_seed_of[run.parent]
        update["init_from"] = None
    return run.config.model_copy(update=update).run_key()


def test_replicates_change_run_keys_only_by_seed(tmp_path, data):
    one = planned(tmp_path, data)
    three = planned(tmp_path, data, replicates=3, pretrain_replicates=2)
    assert kind_counts(one) == "2 pretrain, 2 zeroshot, 6 scratch, 4 finetune"
    assert kind_counts(three) == "4 pretrain, 4 zeroshot, 18 scratch, 12 finetune"
    assert {r.run_key for r in one} <= {r.run_key for r in three}  # replicate 0 = the old sweep
    assert len({r.run_key for r in three}) == len(three)
    assert {r.config.seed for r in three} == {7, 8, 9}
    # pre-train replicate of each pre-train -> the replicate-0 pre-train's key of the same (N, source)
    first = {(r.n, r.source): r.run_key for r in one if r.kind == "pretrain"}
    parent_seed_of = {r.run_key: first[(r.n, r.source)] for r in three if r.kind == "pretrain"}
    ids_one = {_identity(r, {k: k for k in first.values()}) for r in one}
    ids_three = [_identity(r, parent_seed_of) for r in three]
    assert set(ids_three) == ids_one  # nothing but the seeds differs
    # fine-tune replicate r starts from pre-train replicate r mod 2
    pre_seed = {r.run_key: r.config.seed for r in three if r.kind == "pretrain"}
    for r in three:
        if r.kind == "finetune":
            assert pre_seed[r.parent] - 7 == (r.config.seed - 7) % 2
            assert r.label.endswith(f"seed={r.config.seed}")


def test_one_replicate_keeps_the_config_hash():
    assert SweepConfig.checked(BASE).config_hash() == SweepConfig.checked(
        with_(replicates=1, pretrain_replicates=1)).config_hash()
    assert SweepConfig.checked(BASE).config_hash() != SweepConfig.checked(
        with_(replicates=2)).config_hash()


@pytest.mark.parametrize("over,field,needle", [
    (dict(replicates=0), "experiment.replicates", "greater than or equal to 1"),
    (dict(replicates=2, pretrain_replicates=3), "experiment.pretrain_replicates", "would have no fine-tune"),
])
def test_bad_replicates_name_the_field(over, field, needle):
    with pytest.raises(InputError) as err:
        SweepConfig.checked(with_(**over))
    assert err.value.field == field and needle in str(err.value) and "Fix:" in str(err.value)

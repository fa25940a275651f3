"""Packed GPU slots and the two GPU rules (runs per GPU, compile): checked on the CPU with the
GPU count, host cores and GPU memory given, since the rules are pure functions of them."""
from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transfer_laws.model.build import build_model, count_params
from transfer_laws.model.shapes import shape_for
from transfer_laws.tasks.data.corpora import Corpus, Document
from transfer_laws.tasks.data.prepare import prepare
from transfer_laws.tasks.sweep import gpu_rules
from transfer_laws.tasks.sweep.config import SweepConfig
from transfer_laws.tasks.sweep.run_graph import run_graph
from transfer_laws.tasks.sweep.run_rules import with_compile
from transfer_laws.tasks.sweep.slots import layout

GiB = 2**30


def test_packed_slots_deal_runs_round_robin_over_the_gpus_and_split_the_cores():
    lay = layout(runs_per_gpu=3, n_gpu=2, cores=16)
    assert lay.devices == ("cuda:0", "cuda:1") * 3  # the first two runs land on different GPUs
    assert lay.threads == 16 // 6 and Counter(lay.devices) == {"cuda:0": 3, "cuda:1": 3}
    assert "3 runs per GPU" in lay.describe()
    grouped = layout(runs_per_gpu=2, n_gpu=4, cores=16, processes_per_run=2)
    assert grouped.devices == ("cuda:0,1", "cuda:2,3") * 2
    assert layout(runs_per_gpu=1, n_gpu=2, cores=16).devices == ("cuda:0", "cuda:1")
    assert layout(slots=3, runs_per_gpu=4, n_gpu=1, cores=8).devices == ("cuda:0",) * 3


def test_runs_per_gpu_is_ignored_without_a_gpu():
    lay = layout(runs_per_gpu=4, n_gpu=0, cores=2)
    assert lay.devices == ("cpu:0", "cpu:1") and lay.threads == 1 and lay.device_kind == "cpu"


def test_run_memory_counts_16_bytes_per_parameter_plus_activations_logits_and_context():
    shape = shape_for(1e5, n_ctx=128)
    assert count_params(build_model(shape))["params_total"] == shape.params_total
    one, two = gpu_rules.run_memory_bytes(shape, 1), gpu_rules.run_memory_bytes(shape, 2)
    per_sequence = two - one
    assert per_sequence == pytest.approx(128 * (34 * shape.d_model * shape.n_layer + 10 * 256))
    assert one - per_sequence == pytest.approx(16 * shape.params_total + gpu_rules.CUDA_CONTEXT_BYTES)


@given(n=st.floats(1e4, 2e7), batch=st.integers(1, 512), mem=st.floats(4, 200), cores=st.integers(1, 64))
def test_auto_runs_per_gpu_fits_memory_cores_and_the_cap(n, batch, mem, cores):
    shape = shape_for(n, n_ctx=512)
    k = gpu_rules.runs_per_gpu(shape, batch, mem * GiB, cores)
    assert 1 <= k <= min(gpu_rules.MAX_RUNS_PER_GPU, cores)
    if k > 1:  # packing never plans past the usable memory
        assert k * gpu_rules.run_memory_bytes(shape, batch) <= gpu_rules.USABLE_MEMORY * mem * GiB


def test_auto_runs_per_gpu_packs_small_models_and_not_large_ones():
    h200 = 139 * GiB
    assert gpu_rules.runs_per_gpu(shape_for(1e6, n_ctx=512), 64, h200, 16) == gpu_rules.MAX_RUNS_PER_GPU
    assert gpu_rules.runs_per_gpu(shape_for(1e6, n_ctx=512), 64, h200, 3) == 3  # one core each
    assert gpu_rules.runs_per_gpu(shape_for(1e8, n_ctx=512), 64, h200, 16) == 1  # fills it alone
    assert gpu_rules.runs_per_gpu(shape_for(1e7, n_ctx=512), 512, 8 * GiB, 16) == 1  # memory-bound


def test_compile_pays_only_when_the_saved_steps_outweigh_the_compile():
    cost = gpu_rules.COMPILE_COST["cuda"]
    break_even = cost.compile_s / (1 - 1 / cost.speedup)  # seconds of eager training
    assert not gpu_rules.compile_pays("cuda", 100, 0.99 * break_even / 100)
    assert gpu_rules.compile_pays("cuda", 100, 1.01 * break_even / 100)
    assert gpu_rules.COMPILE_COST["cpu"].speedup <= 1  # measured: compiling is slower on a CPU
    assert not gpu_rules.compile_pays("cpu", 10**9, 1.0)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    docs = [Document(f"f{i}.py", f"v{i} = {i}\n" * 300) for i in range(40)]
    return prepare(Corpus.build("small", docs, "g", "n"), tmp_path_factory.mktemp("cache"))


def _cfg(**over) -> SweepConfig:
    return SweepConfig.checked({"experiment": dict(name="t", target="python", sources={"code": {"corpus": "code-other"}},
                                                   sizes=[1e4, 3e4], finetune_tokens=[1000, 2000],
                                                   pretrain_tokens=100_000),
                                "execution": over})


def test_compile_setting_reaches_every_run_without_changing_a_run_key(small_data, tmp_path):
    runs = {s: run_graph(_cfg(compile=s), small_data, {"code": small_data}, tmp_path / "r")
            for s in ("auto", True, False)}
    keys = {s: [r.run_key for r in rs] for s, rs in runs.items()}
    assert keys["auto"] == keys[True] == keys[False]
    assert all(r.config.compile for r in runs[True])
    assert not any(r.config.compile for r in runs[False] + runs["auto"])  # auto on a CPU: never
    # auto on a GPU decides per run from its expected steps and its shape's step time
    long_shape = runs[False][0].shape  # slow steps: every run of this shape pays for its compile
    step_s = {(r.shape, r.config.batch_size): 20.0 if r.shape == long_shape else 0.0 for r in runs[False]}
    decided = with_compile(runs[False], "auto", "cuda", step_seconds=step_s)
    assert {r.config.compile for r in decided if r.shape == long_shape and r.kind != "zeroshot"} == {True}
    assert not any(r.config.compile for r in decided if r.kind == "zeroshot")  # no step to speed up
    assert {r.config.compile for r in decided if r.shape != long_shape} == {False}
    assert [r.run_key for r in decided] == keys[False]

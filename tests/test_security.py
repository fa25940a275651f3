"""Security: checkpoints load through safetensors or torch.load(weights_only=True) only; no code in
the project unpickles; servers bind loopback (tests/services/test_deployments.py); credentials redacted
(tests/services/test_deployments.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.toys import tiny, toy_prepared
from transfer_laws.tasks.train.core import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    return toy_prepared(tmp_path_factory.mktemp("cache"))


def test_a_resumed_run_loads_nothing_through_pickle(toy_data, tmp_path, monkeypatch):
    import torch

    cfg = tiny(toy_data, tmp_path / "run", max_steps=20, checkpoint_interval=10)
    train(cfg)
    ckpt = sorted((tmp_path / "run" / "checkpoints").glob("step_*"))[-1]
    assert (ckpt / "progress.json").exists() and not list(ckpt.glob("custom_checkpoint*"))
    assert (ckpt / "model.safetensors").exists() and (tmp_path / "run" / "best" / "model.safetensors").exists()

    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    resumed = train(cfg.model_copy(update={"max_steps": 30}))
    assert resumed.resumed_from_step == 20
    assert calls and all(w is True for w in calls), calls  # optimiser, scheduler, RNG: weights only


def test_no_project_code_unpickles_or_loads_torch_files_unsafely():
    offenders = []
    for path in [*REPO.glob("tasks/**/*.py"), *REPO.glob("model/**/*.py"), *REPO.glob("flows/**/*.py")]:
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.name}: {m.group(0)}")
        if re.search(r"\bpickle\.loads?\(|register_for_checkpointing", text):
            offenders.append(f"{path.name}: pickle or accelerate custom (pickled) state")
    assert offenders == []

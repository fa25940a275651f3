"""Plans have no side effects: `dry-run`, `status` and `plan --budget-minutes` into a fresh home and a
fresh corpus cache, with the network cut (`unshare -n`), succeed, download nothing, create no MLflow
store, and say what the first `run` will fetch and how big it is."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_sweep_flow import micro_config

REPO = Path(__file__).resolve().parents[1]


def _can_cut_the_network() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


needs_netns = pytest.mark.skipif(not _can_cut_the_network(), reason="unshare -n needs root or user namespaces")


def offline(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TRANSFER_LAWS_CACHE_DIR=str(cache))
    return subprocess.run(["unshare", "-n", sys.executable, "-P", "-m", "transfer_laws.flows.cli", *args],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=600)


@needs_netns
def test_dry_run_status_and_pricing_fetch_nothing_and_say_what_run_will(tmp_path):
    config = micro_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["experiment"]["sources"] = {"code": {"corpus": "code-other"},
                                    "mix": {"mixture": {"english": 0.5, "code-other": 0.5}}}
    config.write_text(yaml.safe_dump(cfg))
    cache, home = tmp_path / "fresh-cache", Path(cfg["tracking"]["home"])

    dry = offline("dry-run", str(config), cache=cache)
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-3000:]
    out = dry.stdout
    assert "this command downloads nothing; the first `run` fetches about" in out
    assert "corpus 'code-other' (experiment.sources.code) is fetched once: 4 packages" in out
    assert "corpus 'english' (experiment.sources.mix.mixture) is fetched once" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("pretrain ", "finetune ", "scratch "))]
    assert sum(r[0] == "pretrain" for r in rows) == 4 and "estimated wall" in out
    assert all(r[-1] == "(unfetched)" for r in rows if r[0] in ("pretrain", "finetune"))
    assert all(len(r[-1]) == 12 for r in rows if r[0] == "scratch")  # the target is local: real keys

    status = offline("status", str(config), cache=cache)
    assert status.returncode == 0, status.stderr[-3000:]
    assert "is fetched once" in status.stdout and status.stdout.strip().endswith("pending")

    plan = offline("plan", str(config), "--budget-minutes", "60", "--draws", "20", "--search-draws", "5",
                   "--designs", "2", "--top", "1", "--calibrate", "0", cache=cache)
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-3000:]
    assert "the first `run` fetches about" in plan.stdout

    assert not (cache / "corpora").exists()  # no corpus built, no archive downloaded
    assert not (home / "mlflow.db").exists()  # nothing trained, no store

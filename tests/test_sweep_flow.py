"""The sweep as a real Prefect flow on a real MLflow store: kill -9 mid-sweep, rerun, nothing lost,
nothing duplicated, the fit produced; a third run trains nothing."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import transfer_laws
from transfer_laws.tasks.tracking import mlflow_store

REPO = Path(__file__).resolve().parents[1]


def stdlib_folder(dest: Path, files: list[Path]) -> Path:
    for f in files:
        (dest / f.name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest / f.name)
    return dest


def micro_config(tmp_path: Path) -> Path:
    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in lib.glob("*.py") if 2_000 < p.stat().st_size < 30_000)
    target = stdlib_folder(tmp_path / "target", files[0:120:2])
    source = stdlib_folder(tmp_path / "source", files[1:120:2])
    cfg = {"experiment": dict(name="micro", target=str(target), sources={"pylib": {"corpus": str(source)}},
                              sizes=[3000, 12000], finetune_tokens=[2000, 8000], scratch_tokens=[32000, 100000],
                              pretrain_tokens=60000, n_ctx=32, test_fraction=0.1),
           "optimiser": dict(batch_size=8, max_steps=120, warmup_steps=5, eval_interval=10, eval_tokens=1024,
                             patience=3),
           "tracking": dict(home=str(tmp_path / "home"))}
    path = tmp_path / "micro.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli(*args, env=None) -> subprocess.Popen:
    env = env or dict(os.environ)
    return subprocess.Popen([sys.executable, "-m", "transfer_laws.flows.cli", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def child_runs(uri: str) -> list:
    c = mlflow_store.client(uri)
    exp = c.get_experiment_by_name("micro")
    if exp is None:
        return []
    return [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("kind") != "sweep"]


def test_killed_sweep_resumes_without_loss_or_duplicates(tmp_path):
    config = micro_config(tmp_path)
    uri = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    planned = 2 + 2 + 2 * 4 + 2 * 2  # pretrain + zero-shot + scratch (D_F grid + 2) + finetune

    first = cli("run", str(config), "--bootstrap", "20")
    deadline = time.time() + 300
    while sum(r.info.status == "FINISHED" for r in child_runs(uri)) < 3:
        assert first.poll() is None, first.stdout.read()
        assert time.time() < deadline, "sweep made no progress"
        time.sleep(0.5)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(1.0)
    try:
        os.killpg(first.pid, signal.SIGKILL)  # the ephemeral Prefect server it started
    except ProcessLookupError:
        pass
    finished_before = {r.data.tags["run_key"] for r in child_runs(uri) if r.info.status == "FINISHED"}
    assert 3 <= len(finished_before) < planned

    second = cli("run", str(config), "--bootstrap", "20")
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out[-3000:]
    runs = child_runs(uri)
    keys = [r.data.tags["run_key"] for r in runs]
    assert len(keys) == len(set(keys)) == planned, "one MLflow run per run_key, none lost"
    assert all(r.info.status == "FINISHED" and "best_test_loss" in r.data.metrics for r in runs)
    exp = mlflow_store.client(uri).get_experiment_by_name("micro")  # reads well in the MLflow UI
    assert exp.tags[mlflow_store.EXPERIMENT_KIND_TAG] == mlflow_store.MODEL_TRAINING
    assert "config hash" in exp.tags[mlflow_store.NOTE_TAG] and "micro" in exp.tags[mlflow_store.NOTE_TAG]
    view = json.loads(exp.tags[mlflow_store.SHARED_VIEW_TAG + mlflow_store.RUNS_VIEW])  # columns, no picking
    assert "metrics.`best_test_loss`" in view["selectedColumns"] and "tags.`kind`" in view["selectedColumns"]
    assert mlflow_store.runs_view_path(exp.experiment_id) in exp.tags[mlflow_store.NOTE_TAG]
    assert all(" N=" in r.info.run_name and r.data.tags["kind"] in r.info.run_name for r in runs)
    reports = [p for p in (tmp_path / "home" / "reports" / "micro").glob("*/fit.json")
               if p.parent.name != "latest"]
    assert len(reports) == 1 and "report:" in out
    assert (tmp_path / "home" / "reports" / "micro" / "latest" / "fit.json").exists()
    page = (reports[0].parent / "report.html").read_text()  # one click in the MLflow UI, figures inline
    assert "data:image/png;base64," in page and "Transfer from <code>pylib</code>" in page
    parent = next(r for r in mlflow_store.client(uri).search_runs(
        [mlflow_store.client(uri).get_experiment_by_name("micro").experiment_id]) if r.data.tags.get("kind") == "sweep")
    assert "report/report.html" in {f.path for f in mlflow_store.client(uri).list_artifacts(parent.info.run_id, "report")}
    assert (reports[0].parent / "runs.csv").read_text().count("\n") == planned - 2 + 1  # target runs + header
    # every run says which transfer-laws made it; the API reads the same runs table back from MLflow
    assert {r.data.tags.get(mlflow_store.VERSION_TAG) for r in runs} == {transfer_laws.__version__}
    assert json.loads(reports[0].read_text())["version"] == transfer_laws.__version__
    table = transfer_laws.runs("micro", home=tmp_path / "home")
    written = pd.read_csv(reports[0].parent / "runs.csv")
    assert sorted(table.run_key) == sorted(written.run_key) and len(table) == planned - 2
    curves = pd.read_csv(reports[0].parent / "pretrain_curves.csv")  # beside pretrain_curves.png
    assert curves.groupby(["N", "source"]).ngroups == 2 and (curves.test_loss > 0).all()

    third = cli("run", str(config), "--bootstrap", "20")
    out3, _ = third.communicate(timeout=300)
    assert third.returncode == 0, out3[-3000:]
    assert "(0 trained now" in out3
    assert len(child_runs(uri)) == planned


def test_failed_runs_fail_the_sweep_after_the_rest_finish(tmp_path):
    config = micro_config(tmp_path)
    uri = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    proc = cli("run", str(config), "--no-aggregate", env={**os.environ,
                                                          "TRANSFER_LAWS_FAULT": "pretrain"})
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1, out[-3000:]
    assert "runs failed" in out and "pretrain N=" in out and "rerun the same command" in out
    runs = child_runs(uri)
    scratch = [r for r in runs if r.data.tags["kind"] == "scratch"]
    assert len(scratch) == 8 and all(r.info.status == "FINISHED" for r in scratch)  # the rest finished
    pre = [r for r in runs if r.data.tags["kind"] == "pretrain"]
    assert len(pre) == 2 and all(r.info.status == "FAILED" and "injected fault" in r.data.tags["error"]
                                 for r in pre)
    assert not [r for r in runs if r.data.tags["kind"] == "finetune"]  # never started


def test_lr_search_sets_each_finetunes_lr_and_stays_out_of_the_fit(tmp_path):
    """Each pre-trained model's candidates fine-tune on the held-out D_F; every grid fine-tune of
    that model trains with the best candidate's lr; the candidates never reach runs.csv."""
    config = micro_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["experiment"]["scratch_tokens"] = None
    cfg["optimiser"]["finetune_lr_search"] = {"scales": [0.2, 3.0], "tokens": 4000}
    config.write_text(yaml.safe_dump(cfg))
    uri = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    proc = cli("run", str(config), "--bootstrap", "0")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    runs = child_runs(uri)
    by_kind = {k: [r for r in runs if r.data.tags["kind"] == k] for k in ("pretrain", "lr-search", "finetune")}
    assert [len(v) for v in by_kind.values()] == [2, 4, 4]
    assert all(r.info.status == "FINISHED" for r in runs)
    pre_key = {r.data.tags["run_key"]: r for r in by_kind["pretrain"]}
    for ft in by_kind["finetune"]:
        mine = [s for s in by_kind["lr-search"]
                if s.data.tags["parent_run_key"] == ft.data.tags["parent_run_key"]]
        assert len(mine) == 2 and ft.data.tags["parent_run_key"] in pre_key
        best = min(mine, key=lambda s: (s.data.metrics["best_test_loss"], float(s.data.params["lr"])))
        assert float(ft.data.params["lr"]) == float(best.data.params["lr"])
    assert "lr-search N=" in out and "chosen by its lr search" in out
    csv = next(p for p in (tmp_path / "home" / "reports" / "micro").glob("*/runs.csv")
               if p.parent.name != "latest")
    rows = csv.read_text().splitlines()[1:]
    assert len(rows) == 4 + 2 + 4 and not [r for r in rows if ",4000," in r]  # scratch, zero-shot, grid fine-tunes
    search = csv.with_name("lr_search.csv").read_text().splitlines()
    assert len(search) == 1 + 4 and sum(line.endswith("True") for line in search) == 2  # one per model
    report = csv.with_name("report.md").read_text()
    assert "## Fine-tuning learning rate, searched" in report
    assert [p.name for p in csv.parent.glob("*.png") if f"({p.name})" not in report] == []  # every figure linked
    assert "No trustworthy fit" in report or report.rindex("\n## ") == report.index("\n## Glossary")


def test_dry_run_lists_the_lr_search_and_its_cost(tmp_path):
    config = micro_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["optimiser"]["finetune_lr_search"] = {"scales": [0.3, 1.0, 3.0], "tokens": 4000}
    config.write_text(yaml.safe_dump(cfg))
    proc = cli("dry-run", str(config))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    rows = [line.split() for line in out.splitlines() if line.startswith(("lr-search ", "finetune "))]
    assert sum(r[0] == "lr-search" for r in rows) == 2 * 3 and sum(r[0] == "finetune" for r in rows) == 4
    assert all(r[4] == "4,000" for r in rows if r[0] == "lr-search")  # the held-out D_F (shape is 2 words)
    assert "(2 pretrain, 2 zeroshot, 6 lr-search, 8 scratch, 4 finetune)" in out and "estimated wall" in out
    assert not (tmp_path / "home" / "mlflow.db").exists()  # nothing trained, no store


def test_a_bpe_llama_sweep_runs_end_to_end_and_records_both_units(tmp_path):
    """tokenizer: bpe:400 and family: llama through dry-run, run and report: one BPE trained on the
    target's and the source's training text, logged with the sweep; every run records its
    tokenizer, vocabulary, D in bytes and its held-out loss in bits per byte."""
    config = micro_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["experiment"].update(tokenizer="bpe:400", family="llama", scratch_tokens=[32000])
    config.write_text(yaml.safe_dump(cfg))
    dry = cli("dry-run", str(config))
    out, _ = dry.communicate(timeout=300)
    assert dry.returncode == 0 and "training tokens (bpe:400, vocabulary 400)" in out, out[-3000:]
    proc = cli("run", str(config), "--bootstrap", "0")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    uri = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    c = mlflow_store.client(uri)
    runs = child_runs(uri)
    assert len(runs) == 14 and all(r.info.status == "FINISHED" for r in runs)  # 2 pre, 2 zero-shot, 6 scratch, 4 ft
    for r in runs:
        p = r.data.params
        assert (p["tokenizer"], p["vocab_size"], p["family"]) == ("bpe:400", "400", "llama")
        if r.data.tags["kind"] != "zeroshot":
            assert int(p["dataset_bytes"]) > int(p["dataset_tokens"])  # a BPE token holds > 1 byte
            assert float(p["bytes_per_token"]) == pytest.approx(int(p["dataset_bytes"]) / int(p["dataset_tokens"]), abs=1e-4)
        ratio = r.data.metrics["best_test_bpb"] / r.data.metrics["best_test_loss"]
        assert 0.2 < ratio < 1.4427  # bits/byte = nats/token x tokens/byte / ln 2, tokens/byte < 1
    parent = next(r for r in c.search_runs([runs[0].info.experiment_id]) if r.data.tags.get("kind") == "sweep")
    assert parent.data.params["tokenizer"] == "bpe:400"
    assert {a.path for a in c.list_artifacts(parent.info.run_id, "tokenizer")} >= {"tokenizer/tokenizer.json"}
    report_dir = tmp_path / "home" / "reports" / "micro" / "latest"
    table = pd.read_csv(report_dir / "runs.csv")
    fitted = table[table.D > 0]
    assert (fitted.D_bytes > fitted.D).all() and table.bpb.notna().all()
    assert "llama models · bpe:400 tokens" in (report_dir / "report.md").read_text()


@pytest.mark.slow  # `make test` runs the same path on the exported suite below (hf: names, run, status)
@pytest.mark.parametrize("family, n_small, n_large", [("gpt_neox", 25_472, 100_096), ("llama", 23_200, 92_480)])
def test_a_suite_of_hub_checkpoints_is_measured_end_to_end_offline(tmp_path, family, n_small, n_large):
    """sources: {checkpoints: [hf:…]} from a Hugging Face cache in the hub's own layout, with the hub
    offline: dry-run prices the suite from its configs, run fine-tunes each checkpoint's weights and
    trains scratch baselines of the same architectures with the suite's tokenizer (no pre-training
    runs), status and the report follow, and MLflow records the architecture and the weights' identity."""
    from tests.suite_fixtures import tiny_suite
    from tests.sweep.test_suites import in_hub_cache

    hub = tmp_path / "hub"
    names = []
    for folder in tiny_suite(tmp_path / "made", family):
        names.append(f"hf:acme/{folder.name}")
        in_hub_cache(hub, names[-1][3:], folder, commit=folder.name[-2:] * 20)
    config = micro_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    del cfg["experiment"]["sizes"], cfg["experiment"]["pretrain_tokens"]
    cfg["experiment"].update(sources={"neox": {"checkpoints": names}}, scratch_tokens=[32000])
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    dry = cli("dry-run", str(config), env=env)
    out, _ = dry.communicate(timeout=300)
    assert dry.returncode == 0 and f"source 'neox': {family} L=2 d=64 h=2 N={n_large:,} context 64 from " \
        f"hf:acme/{family}-64" in out and "(2 zeroshot, 6 scratch, 4 finetune)" in out, out[-3000:]
    proc = cli("run", str(config), "--bootstrap", "0", env=env)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    runs = child_runs(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    assert sorted(r.data.tags["kind"] for r in runs) == ["finetune"] * 4 + ["scratch"] * 6 + ["zeroshot"] * 2
    assert all(r.info.status == "FINISHED" for r in runs)
    for r in runs:
        p = r.data.params
        assert (p["family"], p["tokenizer"], p["vocab_size"]) == (family, names[0], "320")
        assert int(p["params_non_embedding"]) in (n_small, n_large)
        started = r.data.tags["kind"] != "scratch"
        assert p["init_key"] == (f"{names[int(p['d_model']) == 64]}@{('32', '64')[int(p['d_model']) == 64] * 20}"
                                 if started else "")
    status = cli("status", str(config), env=env)
    out, _ = status.communicate(timeout=300)
    assert status.returncode == 0 and "12 done" in out, out[-2000:]
    report = (tmp_path / "home" / "reports" / "micro" / "latest" / "report.md").read_text()
    assert f"# Transfer from `neox` (2 checkpoints: hf:acme/{family}-32, hf:acme/{family}-64)" in report
    assert "not by the suite's own training recipe" in report


def test_a_sweeps_exported_suite_measured_as_a_source_gives_back_its_losses_exactly(tmp_path):
    """The round trip: `export-suite` writes a finished sweep's pre-trained models as Hugging Face
    folders (loadable by from_pretrained, with the sweep's tokenizer and a model card); a second
    sweep with the same settings and seeds whose source is that suite, read as hf: names from a
    Hugging Face cache with the hub offline (run, status, the report, MLflow), trains no
    pre-training run and reproduces every zero-shot, fine-tuned and scratch loss of the first to the
    last bit (same weights, same data, same arithmetic on one CPU thread), and so its fit."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = micro_config(tmp_path)
    first = yaml.safe_load(config.read_text())
    first["experiment"].update(tokenizer="bpe:400", pretrain_tokens=20000, scratch_tokens=[16000])
    config.write_text(yaml.safe_dump(first))
    proc = cli("run", str(config), "--bootstrap", "0")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    export = cli("export-suite", str(config), "--out", str(tmp_path / "suite"))
    out, _ = export.communicate(timeout=300)
    folders = [line for line in out.splitlines() if line.startswith("/")]
    assert export.returncode == 0 and len(folders) == 2, out[-3000:]
    card = (Path(folders[1]) / "README.md").read_text()
    assert "non-embedding parameters N | 12,768" in card and "tokenizer | bpe:400" in card
    model = AutoModelForCausalLM.from_pretrained(folders[1])
    assert model.num_parameters() == 26_592 and AutoTokenizer.from_pretrained(folders[1]).vocab_size == 400

    # the suite as hub names, from a Hugging Face cache in the hub's own layout, the hub offline
    from tests.sweep.test_suites import in_hub_cache

    names = [f"hf:acme/{Path(f).name.lower()}" for f in folders]
    for name, folder in zip(names, folders):
        in_hub_cache(tmp_path / "hub", name[3:], folder, commit=Path(folder).name[-4:].rjust(40, "0"))
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    second = {**first, "experiment": {k: v for k, v in first["experiment"].items()
                                      if k not in ("sizes", "pretrain_tokens", "tokenizer")}}
    second["experiment"].update(name="micro-suite", sources={"pylib": {"checkpoints": names}})
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(second))
    proc = cli("run", str(tmp_path / "suite.yaml"), "--bootstrap", "0", env=env)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    status = cli("status", str(tmp_path / "suite.yaml"), env=env)
    out, _ = status.communicate(timeout=300)
    assert status.returncode == 0 and "12 done" in out, out[-2000:]
    reports = tmp_path / "home" / "reports"
    a = pd.read_csv(reports / "micro" / "latest" / "runs.csv")
    b = pd.read_csv(reports / "micro-suite" / "latest" / "runs.csv")
    both = a.merge(b, on=["N", "D", "init", "seed"], suffixes=("_a", "_b"))
    assert len(both) == len(a) == len(b) == 12  # 2 zero-shot, 6 scratch, 4 fine-tuned (pre-trains are not rows)
    assert (both.loss_a == both.loss_b).all(), both[["N", "D", "init", "loss_a", "loss_b"]]
    fit_a, fit_b = (json.loads((reports / n / "latest" / "fit.json").read_text()) for n in ("micro", "micro-suite"))
    assert fit_a["scratch"]["params"] == fit_b["scratch"]["params"]
    assert fit_a["transfer"]["pylib"]["status"] == fit_b["transfer"]["pylib"]["status"]
    c = mlflow_store.client(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("micro-suite")
    parent = next(r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("kind") == "sweep")
    logged = {a.path for a in c.list_artifacts(parent.info.run_id, "tokenizer")}
    assert "tokenizer/tokenizer.json" in logged and not any(a.endswith(".safetensors") for a in logged)
    started = [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("kind") in ("zeroshot", "finetune")]
    assert {r.data.params["init_key"].split("@")[0] for r in started} == set(names)  # the hub name, and its commit
    report = (reports / "micro-suite" / "latest" / "report.md").read_text()
    assert "# Transfer from `pylib` (2 checkpoints: hf:acme/" in report and "not by the suite's own training" in report


@pytest.mark.slow  # ~20 min on 2 CPU cores: the demo-sized version of the round trip above (`make test-slow`)
def test_the_demo_bpe_round_trip_gives_back_every_loss_and_the_law(tmp_path):
    """benchmarks/suite_round_trip.py at demo size: demo-bpe, then its exported suite as the source
    of the same design; every zero-shot, scratch and fine-tuned loss and the fitted law agree exactly."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from suite_round_trip import round_trip
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    both, fit_a, fit_b = round_trip("demo-bpe", tmp_path / "home", bootstrap="200")
    assert (both["_merge"] == "both").all() and len(both) == 44
    assert (both.loss_sweep == both.loss_suite).all()
    for key in ("k", "alpha", "beta", "ci95"):
        assert fit_a["transfer"]["code"][key] == fit_b["transfer"]["code"][key]

"""Seeded random-moment kill suite (reliability issue #6, item 1).

Each trial runs a micro-sweep (2 sizes x 2 D_F x 1 source: 14 runs of a few dozen steps) as the real
CLI, `python -P -m transfer_laws.flows.cli run CONFIG --home H`, in its own process group and a fresh project folder,
and kills it with SIGKILL at a moment a seeded RNG picks from one of five phases:

- prepare: while the corpora are being tokenised (a fresh data cache for that trial, so there is
  work to interrupt; the kill comes at the first file the preparation writes);
- training: after the k-th resumable checkpoint of the sweep appeared, plus a random delay;
- checkpoint: while a checkpoint is being written. The test-only hook `TRANSFER_LAWS_FAULT_PAUSE`
  (tasks/train/checkpoints.py) holds the training process at one point of the write (`state`:
  accelerate's files written, no progress.json nor manifest; `manifest`: complete but not renamed;
  `swap`: the old best/ moved aside, the new one not in place) and the kill lands there;
- between: the moment the k-th run wrote its run.json (its MLflow run may or may not be FINISHED);
- aggregate: a random delay after the aggregation started writing the report.

The kill takes the whole process group (the sweep, its Prefect server, the training zygote and its
runs: a machine dying) or, for some seeds, only the sweep's process (then everything it started
must go away by itself). The same command then runs again and must complete with: 0 lost runs
(every planned run_key FINISHED in MLflow), 0 duplicated MLflow runs (one per run_key, one parent),
every run's best held-out loss equal to the uninterrupted reference sweep's within 1e-5, a fit
(fit.json: k, alpha, beta, and the whole runs table behind it) identical to the reference's, and
every checkpoint left behind verifying against its sha256 manifest.

`make test-faults` runs LONG_SEEDS: 20 independent trials (marked `faults`), each one kill and one
complete rerun, the seeds covering every phase, every checkpoint-write point and both kill modes.
`make test` runs SHORT_CHAIN: one sweep killed 4 times in a row, at 4 different phases (each rerun
is itself killed at the next phase; the invariants are checked after every kill), then run to
completion and compared with the reference. A chain, because on the 2-core box every CLI start
costs ~15-25 s and every aggregation ~15-40 s: 4 independent trials would take 8-10 minutes.
Each kill prints one line: seed, phase, the moment, what the rerun found.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from transfer_laws.tasks.tracking import mlflow_store
from transfer_laws.tasks.train import checkpoints

REPO = Path(__file__).resolve().parents[1]
NAME = "faults"
PHASES = ("prepare", "training", "checkpoint", "between", "aggregate")
PLANNED = 2 + 2 + 2 * 3 + 2 * 2  # pretrain (2 sizes) + zero-shot (one per pretrain) + scratch (2 sizes x 3 D) + finetune (2 x 2 D_F)
TOLERANCE = 1e-5


# ---- the micro-sweep ----------------------------------------------------------------------------
def _folder(dest: Path, files: list[Path]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, dest / f.name)
    return dest


def micro_config(root: Path) -> Path:
    """2 sizes x 2 D_F x 1 source on Python's own standard library (target and source disjoint)."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in lib.glob("*.py") if 2_000 < p.stat().st_size < 30_000)
    cfg = {"experiment": dict(name=NAME, target=str(_folder(root / "target", files[0:120:2])),
                              sources={"pylib": {"corpus": str(_folder(root / "source", files[1:120:2]))}},
                              sizes=[3000, 12000], finetune_tokens=[800, 2400], scratch_tokens=[30000],
                              pretrain_tokens=2000, n_ctx=32, test_fraction=0.1, seed=0),
           "optimiser": dict(batch_size=8, max_steps=120, warmup_steps=5, eval_interval=10, eval_tokens=1024,
                             patience=3)}
    path = root / "micro.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start(config: Path, home: Path, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, **(extra_env or {})}
    log = open(home.parent / f"{home.name}.log", "a")
    return subprocess.Popen([sys.executable, "-m", "transfer_laws.flows.cli", "run", str(config), "--home",
                             str(home), "--bootstrap", "1"], env=env, cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def log_of(home: Path) -> str:
    path = home.parent / f"{home.name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def group_alive(pgid: int) -> list[str]:
    """Processes of the group that still run (zombies excluded), as 'pid cmd'."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        tail = text[text.rindex(")") + 2:].split()
        if int(tail[2]) == pgid and tail[0] != "Z":
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
            alive.append(f"{stat.parent.name} {cmd}")
    return alive


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# ---- what a finished sweep left behind ------------------------------------------------------------
@dataclass
class Sweep:
    losses: dict[str, float]  # run_key -> best_test_loss
    n_child_runs: int
    n_parent_runs: int
    unfinished: list[str]
    fit: dict
    report_key: str
    output: str
    seconds: float = 0.0
    aggregate_seconds: float = 0.0
    resumed: dict[str, int] = field(default_factory=dict)  # run_key -> step it resumed from


def read_sweep(home: Path, output: str) -> Sweep:
    c = mlflow_store.client(f"sqlite:///{home / 'mlflow.db'}")
    exp = c.get_experiment_by_name(NAME)
    runs = c.search_runs([exp.experiment_id]) if exp else []
    children = [r for r in runs if r.data.tags.get("kind") != "sweep"]
    keys = [r.data.tags["run_key"] for r in children]
    losses = {r.data.tags["run_key"]: r.data.metrics.get("best_test_loss") for r in children}
    unfinished = [r.data.tags["run_key"] for r in children
                  if r.info.status != "FINISHED" or "best_test_loss" not in r.data.metrics]
    latest = home / "reports" / NAME / "latest"
    fit = json.loads((latest / "fit.json").read_text()) if (latest / "fit.json").exists() else {}
    resumed = {}
    for run_json in (home / "runs").glob("*/run.json"):
        result = json.loads(run_json.read_text())["result"]
        if result["resumed_from_step"]:
            resumed[result["run_key"]] = result["resumed_from_step"]
    return Sweep(losses=losses, n_child_runs=len(keys), n_parent_runs=len(runs) - len(children),
                 unfinished=unfinished, fit=fit, report_key=latest.resolve().name if latest.exists() else "",
                 output=output, resumed=resumed)


def bad_checkpoints(home: Path) -> list[str]:
    """Checkpoint folders that look complete (no .tmp/.old suffix) but fail their manifest."""
    bad = []
    for run in (home / "runs").iterdir():
        folders = [run / "best"] if (run / "best").exists() else []
        folders += checkpoints.step_folders(run / "checkpoints")
        bad += [f"{run.name}/{f.name}: {why}" for f in folders if (why := checkpoints.verify(f))]
    return bad


def law(fit: dict) -> tuple:
    t = fit.get("transfer", {}).get("pylib", {})
    return t.get("k"), t.get("alpha"), t.get("beta")


# ---- the uninterrupted reference -------------------------------------------------------------------
@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> Path:
    return micro_config(tmp_path_factory.mktemp("faults-data"))


@pytest.fixture(scope="module")
def reference(micro, tmp_path_factory) -> Sweep:
    home = tmp_path_factory.mktemp("faults-reference") / "home"
    t0 = time.monotonic()
    proc = start(micro, home)
    agg_start = agg_end = None
    while proc.poll() is None:  # time the aggregation: the aggregate-phase kills land inside it
        now = time.monotonic()
        if agg_start is None and (home / "reports").exists():
            agg_start = now
        if agg_end is None and (home / "reports" / NAME / "latest").exists():
            agg_end = now
        assert now - t0 < 900, "the reference sweep did not finish in 15 minutes"
        time.sleep(0.05)
    out = log_of(home)
    assert proc.returncode == 0, out[-4000:]
    ref = read_sweep(home, out)
    ref.seconds = time.monotonic() - t0
    ref.aggregate_seconds = (agg_end or time.monotonic()) - (agg_start or t0)
    assert ref.n_child_runs == PLANNED and not ref.unfinished, ref
    assert all(k is not None for k in law(ref.fit)), f"the reference fit has no transfer law: {ref.fit}"
    return ref


# ---- one kill --------------------------------------------------------------------------------------
@dataclass
class KillPlan:
    seed: int
    phase: str
    mode: str  # "group": the whole process group (a machine dying) | "sweep": the sweep's process only
    k: int = 0  # training: the k-th new checkpoint; between: the k-th run finished
    delay: float = 0.0  # seconds after the trigger
    pause: str = ""  # checkpoint: TRANSFER_LAWS_FAULT_PAUSE
    fraction: float = 0.0  # aggregate: share of the reference's aggregation time

    def describe(self) -> str:
        what = {"prepare": "first prepared-data write",
                "training": f"new checkpoint #{self.k} + {self.delay:.2f}s",
                "checkpoint": f"paused at {self.pause}",
                "between": f"run #{self.k} done + {self.delay:.2f}s",
                "aggregate": f"report begun + {self.fraction:.0%} of its time"}[self.phase]
        return f"{what}, kill {self.mode}"


def plan_kill(seed: int, phase: str | None = None, max_k: int = PLANNED - 1) -> KillPlan:
    """The kill of `seed`: its phase (unless given) and everything else come from random.Random(seed)."""
    rng = random.Random(seed)
    drawn = rng.choice(PHASES)
    mode = "sweep" if rng.random() < 0.25 else "group"
    plan = KillPlan(seed, phase or drawn, mode)
    if plan.phase == "training":
        plan.k, plan.delay = rng.randint(1, min(8, max_k)), rng.uniform(0.0, 0.6)
    elif plan.phase == "checkpoint":
        point = rng.choice(["state", "manifest", "swap"])
        plan.pause = f"{point}@{rng.randint(1, 2)}"
    elif plan.phase == "between":
        plan.k, plan.delay = rng.randint(1, max_k), rng.uniform(0.0, 0.3)
    elif plan.phase == "aggregate":
        plan.fraction = rng.uniform(0.05, 0.8)
    return plan


def fresh_cache(root: Path) -> Path:
    """A data cache with no prepared corpora, but the empty store templates of the shared one (so
    the trial interrupts tokenising, not Prefect's and MLflow's migrations)."""
    shared = Path(os.environ["TRANSFER_LAWS_CACHE_DIR"])
    cache = root / "cache"
    cache.mkdir()
    for sub in ("prefect-db", "mlflow-db"):
        if (shared / sub).is_dir():
            shutil.copytree(shared / sub, cache / sub)
    return cache


def _names(pattern: str, root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.glob(pattern)} if root.exists() else set()


def _newer(root: Path, since: float) -> list[Path]:
    return [p for p in root.rglob("*") if p.stat().st_mtime >= since] if root.exists() else []


def kill_at(plan: KillPlan, micro: Path, home: Path, cache: Path, ref: Sweep) -> str:
    """Start the sweep, wait for the planned moment, kill it; return a line on what was hit."""
    env = {"TRANSFER_LAWS_CACHE_DIR": str(cache)}
    if plan.pause:
        env["TRANSFER_LAWS_FAULT_PAUSE"] = plan.pause
    runs = home / "runs"
    ckpts_before = _names("*/checkpoints/step_????????", runs)
    done_before = _names("*/run.json", runs)
    new_ckpts: set[str] = set()
    since = time.time()
    proc = start(micro, home, env)
    t0 = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"seed {plan.seed}: the sweep exited ({proc.returncode}) before the "
                            f"{plan.phase} kill ({plan.describe()}):\n{log_of(home)[-3000:]}")
            assert time.monotonic() - t0 < 600, f"seed {plan.seed}: never reached {plan.describe()}"
            if plan.phase == "prepare":
                entries = sorted(_names("*", cache / "prepared"))
                if entries:
                    seen = f"prepared/ held {entries}"
                    break
                time.sleep(0.002)
                continue
            if plan.phase == "training":
                new_ckpts |= _names("*/checkpoints/step_????????", runs) - ckpts_before
                if len(new_ckpts) >= plan.k:
                    time.sleep(plan.delay)
                    busy = [p for p in runs.iterdir() if (p / "checkpoints").exists()
                            and not (p / "run.json").exists()]
                    seen = f"{len(busy)} run(s) mid-training"
                    break
            elif plan.phase == "checkpoint":
                paused = list(runs.glob(f"*/{checkpoints.PAUSE_MARKER}")) if runs.exists() else []
                if paused:
                    info = json.loads(paused[0].read_text())
                    seen = f"{paused[0].parent.name} inside {Path(info['folder']).name} ({info['point']})"
                    break
            elif plan.phase == "between":
                if len(_names("*/run.json", runs) - done_before) >= plan.k:
                    time.sleep(plan.delay)
                    seen = f"{len(_names('*/run.json', runs))} run(s) done on disk"
                    break
            elif plan.phase == "aggregate":
                if _newer(home / "reports", since):
                    time.sleep(plan.fraction * ref.aggregate_seconds)
                    seen = f"reports/ held {sorted(_names(f'{NAME}/*', home / 'reports'))}"
                    break
            time.sleep(0.02)
        killed_at = time.monotonic() - t0
        if plan.mode == "group":
            kill_group(proc)
        else:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            end = time.monotonic() + 20  # what it started must go away by itself: no orphan writers
            while group_alive(proc.pid) and time.monotonic() < end:
                time.sleep(0.2)
            orphans = group_alive(proc.pid)
            assert not orphans, f"seed {plan.seed}: processes outlived the killed sweep: {orphans}"
    finally:
        kill_group(proc)
    return (f"seed {plan.seed:3d} | {plan.phase:10s} | {plan.describe():36s} | killed at "
            f"{killed_at:5.1f}s: {seen}")


def check_partial(home: Path, ref: Sweep, where: str) -> None:
    """After a kill: no run_key twice in MLflow, finished runs already at the reference's loss, no
    checkpoint that looks complete but fails its manifest."""
    if not (home / "mlflow.db").exists():
        return
    got = read_sweep(home, "")
    assert got.n_child_runs == len(got.losses), f"{where}: a run_key has two MLflow runs"
    assert got.n_parent_runs <= 1, f"{where}: {got.n_parent_runs} sweep (parent) runs"
    for key, loss in got.losses.items():
        if key not in got.unfinished:
            assert abs(loss - ref.losses[key]) <= TOLERANCE, f"{where}: run {key} {loss} != {ref.losses[key]}"
    if (home / "runs").exists():
        assert not bad_checkpoints(home), f"{where}: {bad_checkpoints(home)}"


def rerun_to_completion(micro: Path, home: Path, cache: Path, ref: Sweep, head: str) -> str:
    """The same command again (no fault hook): it must finish with the reference's result."""
    t1 = time.monotonic()
    log_size = len(log_of(home))
    second = start(micro, home, {"TRANSFER_LAWS_CACHE_DIR": str(cache)})
    try:
        second.wait(timeout=900)
    finally:
        kill_group(second)
    out = log_of(home)[log_size:]
    assert second.returncode == 0, f"{head}: the rerun failed\n{out[-4000:]}"
    got = read_sweep(home, out)
    counts = re.findall(r"(\d+) runs done \((\d+) trained now, (\d+) already done\)", out)
    trained, skipped = counts[-1][1:] if counts else ("?", "?")
    deltas = {k: abs(got.losses[k] - ref.losses[k]) for k in ref.losses if got.losses.get(k) is not None}
    max_delta = max(deltas.values(), default=float("nan"))
    line = (f"{head} | rerun {time.monotonic() - t1:5.1f}s: {trained} trained, {skipped} done already, "
            f"{len(got.resumed)} resumed from a checkpoint, {got.n_child_runs} MLflow runs, max |d loss| "
            f"{max_delta:.1e}, fit {'identical' if law(got.fit) == law(ref.fit) else 'DIFFERENT'}")
    keys = set(got.losses)
    assert got.n_child_runs == len(keys) == PLANNED, f"{line}\nduplicated or lost MLflow runs"
    assert keys == set(ref.losses), f"{line}\nother run_keys than the reference's"
    assert got.n_parent_runs == 1, f"{line}\n{got.n_parent_runs} sweep (parent) runs"
    assert not got.unfinished, f"{line}\nruns not FINISHED with a best loss: {got.unfinished}"
    assert max_delta <= TOLERANCE, f"{line}\n{ {k: d for k, d in deltas.items() if d > TOLERANCE} }"
    assert law(got.fit) == law(ref.fit), f"{line}\nfit {law(got.fit)} != reference {law(ref.fit)}"
    assert got.report_key == ref.report_key, f"{line}\nthe runs table differs from the reference's"
    assert not bad_checkpoints(home), f"{line}\n{bad_checkpoints(home)}"
    return line


def shared_cache() -> Path:
    return Path(os.environ["TRANSFER_LAWS_CACHE_DIR"])


def say(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n[faults] {line}", flush=True)


# ---- the tests -------------------------------------------------------------------------------------
# make test: one sweep killed four times in a row (each rerun is killed at the next phase), then run
# to completion; `make test-faults`: 20 independent trials, each one kill and one complete rerun.
SHORT_CHAIN = [(14, "prepare"), (7, "checkpoint"), (1, "training"), (0, "between")]
LONG_SEEDS = [0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 23, 36]


def test_the_seeds_cover_the_phases():
    short = {phase for _, phase in SHORT_CHAIN}
    long = [plan_kill(s) for s in LONG_SEEDS]
    assert len(SHORT_CHAIN) >= 4 and len(short) >= 4, short
    assert len(LONG_SEEDS) >= 20 and {p.phase for p in long} == set(PHASES)
    assert {p.mode for p in long} == {"group", "sweep"}
    assert {p.pause.split("@")[0] for p in long if p.pause} == {"state", "manifest", "swap"}


def test_a_sweep_killed_four_times_at_random_moments_ends_as_if_never_killed(
        micro, reference, tmp_path, capsys):
    home, cache = tmp_path / "home", fresh_cache(tmp_path)
    lines = []
    for seed, phase in SHORT_CHAIN:
        plan = plan_kill(seed, phase, max_k=2)  # a rerun may have few runs left to finish
        line = kill_at(plan, micro, home, cache, reference)
        check_partial(home, reference, line)
        lines.append(line)
        say(capsys, line)
    say(capsys, rerun_to_completion(micro, home, cache, reference, f"after {len(lines)} kills"))


@pytest.mark.faults
@pytest.mark.parametrize("seed", LONG_SEEDS)
def test_fault_suite_long(seed, micro, reference, tmp_path, capsys):
    plan = plan_kill(seed)
    home = tmp_path / "home"
    cache = fresh_cache(tmp_path) if plan.phase == "prepare" else shared_cache()
    line = kill_at(plan, micro, home, cache, reference)
    check_partial(home, reference, line)
    say(capsys, rerun_to_completion(micro, home, cache, reference, line))

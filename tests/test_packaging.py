"""transfer-laws as researchers install it: one import name, a wheel that carries everything it reads,
and processes that never import a module from the folder they were started in."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import yaml

from tests.test_sweep_flow import child_runs, micro_config

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"transfer_laws": "transfer_laws", "flows": "transfer_laws.flows", "tasks": "transfer_laws.tasks",
           "model": "transfer_laws.model", "configs": "transfer_laws.configs",
           "deployments": "transfer_laws.deployments"}


def test_pyproject_maps_every_package_under_one_name():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {FOLDERS[init.relative_to(REPO).parts[0]] + "".join(f".{p}" for p in init.parent.relative_to(
             REPO / init.relative_to(REPO).parts[0]).parts)
             for folder in FOLDERS for init in (REPO / folder).rglob("__init__.py")}
    assert set(tool["packages"]) == found
    assert {p.split(".")[0] for p in tool["packages"]} == {"transfer_laws"}
    assert tool["package-dir"] == {name: folder for folder, name in FOLDERS.items()}


def _fresh_venv_with_the_wheel(tmp_path: Path) -> tuple[Path, Path]:
    """A new venv holding only the wheel; the test environment's dependencies reach it through a
    .pth line (not a site dir, so the editable install's finder there stays off)."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(REPO)], check=True, capture_output=True, text=True)
    wheel = next(dist.glob("transfer_laws-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, text=True)
    return venv, site


def test_the_wheel_runs_from_anywhere_with_nothing_from_the_checkout(tmp_path):
    venv, site = _fresh_venv_with_the_wheel(tmp_path)
    ours = sorted(p.name for p in site.iterdir() if not p.name.startswith(("_", "test-env")))
    assert [n for n in ours if not n.endswith(".dist-info")] == ["transfer_laws"]  # one top-level name
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(REPO / "docs" / "results" / "demo" / "runs.csv", work / "runs.csv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(*cmd: str) -> str:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return proc.stdout

    version = run(str(venv / "bin" / "transfer-laws"), "--version").split()[-1]
    run(str(venv / "bin" / "transfer-laws"), "fit", "runs.csv", "--out", "out", "--bootstrap", "0",
        "--jobs", "1", "--no-figures")
    assert (work / "out" / "fit.json").is_file() and (work / "out" / "report.md").is_file()
    out = run(str(venv / "bin" / "python"), "-c", (
        "import transfer_laws as tl, json\n"
        "from transfer_laws.tasks.services.servers import deployments_file\n"
        "f = tl.fit('runs.csv', bootstrap=0)\n"
        "print(tl.__file__)\n"
        "print(json.load(open('out/fit.json'))['transfer']['code']['alpha'] == f.laws['code'].alpha)\n"
        "print(tl.load_config('paper-cpu').experiment.name, deployments_file().is_file(), tl.__version__)\n"))
    where, same, bundled = out.strip().splitlines()
    assert where.startswith(str(site)) and same == "True"
    assert bundled == f"paper-cpu True {version}"


def test_a_sweep_runs_from_a_folder_whose_modules_shadow_ours(tmp_path):
    """Runs start as `python -P -m transfer_laws…`, and every child keeps the current folder off its
    path: a project folder's own tasks.py (the Celery and invoke convention) is never imported."""
    work = tmp_path / "project"
    work.mkdir()
    for name in ("tasks", "model", "flows", "transfer_laws"):
        (work / f"{name}.py").write_text(f"raise RuntimeError('the folder\\'s own {name}.py was imported')\n")
    config = micro_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["experiment"]["scratch_tokens"] = [32000]
    cfg["optimiser"].update(max_steps=20, eval_interval=10)
    config.write_text(yaml.safe_dump(cfg))
    exe = Path(sys.executable).parent / "transfer-laws"
    proc = subprocess.run([str(exe), "run", str(config), "--no-aggregate"], cwd=work, capture_output=True,
                          text=True, timeout=600, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = child_runs(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    assert len(runs) == 2 + 2 + 2 * 3 + 2 * 2 and all(r.info.status == "FINISHED" for r in runs)  # pretrain, zeroshot, scratch, finetune

"""The device kit: the wheels an offline GPU machine lacks to run this project, downloaded here.

The lent H200 machine has torch, transformers, accelerate, numpy, scipy, pandas and ~190 more
(benchmarks/device_has.txt) but no pydantic, mlflow, prefect or datasets, and reaches no package
index. This script resolves the closure of pyproject's dependencies for that machine's Python
(pip's own resolver: `pip install --dry-run --report`, nothing installed), drops every name the
machine has, writes the list (benchmarks/device_kit_py312.txt) and downloads the rest with
`--no-deps` into an ignored folder, with KIT.txt listing each wheel and its size. There: `pip install --no-index --no-deps --target /tmp/site .whl/py312/*.whl`.

    python benchmarks/device_kit.py                      # Python 3.12 wheels into .whl/py312
    python benchmarks/device_kit.py --python 3.11        # this machine's Python (the rehearsal)
    python benchmarks/device_kit.py --resolve-only       # print the list, download nothing
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HAS = Path(__file__).with_name("device_has.txt")
# manylinux tags pip must be told one by one (it matches N exactly), newest first.
PLATFORMS = ["manylinux_2_39_x86_64", "manylinux_2_35_x86_64", "manylinux_2_34_x86_64",
             "manylinux_2_31_x86_64", "manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
             "manylinux_2_24_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64"]
BUDGET_MIB = 60  # what may travel with the working tree, leaving room for the repo itself
# The full mlflow wheel is its server and UI (12 MiB, and flask, gunicorn, graphene after it); a
# run on the device only logs to a local SQLite store, which mlflow-skinny does with these two.
ON_DEVICE = {"mlflow": ["mlflow-skinny", "sqlalchemy", "alembic"]}


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def device_has(path: Path = HAS) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {canonical(line) for line in lines if line}


def project_requirements() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _target_flags(python: str) -> list[str]:
    flags = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    for p in PLATFORMS:
        flags += ["--platform", p]
    return flags


def _name(requirement: str) -> str:
    return canonical(re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0])


def missing_requirements(has: set[str]) -> list[str]:
    """pyproject's requirements whose distribution the machine lacks (torch and friends stay out of
    the resolution, so pip never fetches a CUDA wheel's metadata for nothing)."""
    out = []
    for r in project_requirements():
        name = _name(r)
        if name not in has:
            out += [r.replace(name, sub, 1) if sub.startswith(name) else sub
                    for sub in ON_DEVICE[name]] if name in ON_DEVICE else [r]
    return out


def resolve(requirements: list[str], python: str) -> list[dict]:
    """Every distribution pip would install for `requirements` on that Python, as (name, version,
    url) dicts: the closure, resolved by pip without installing anything."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
               "--target", str(Path(tmp) / "t"), "--report", str(report), *_target_flags(python),
               *requirements]
        subprocess.run(cmd, check=True)
        items = json.loads(report.read_text())["install"]
    return [{"name": canonical(i["metadata"]["name"]), "version": i["metadata"]["version"],
             "url": i["download_info"]["url"]} for i in items]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default="3.12", help="the target machine's Python (default 3.12)")
    ap.add_argument("--dest", type=Path, help="folder for the wheels (default .whl/py<version>)")
    ap.add_argument("--resolve-only", action="store_true", help="print the kit, download nothing")
    ap.add_argument("--base-out", type=Path, help="also write the requirements a venv needs to hold "
                    "what the machine has and the product uses (torch aside): the rehearsal's base")
    a = ap.parse_args()
    has = device_has()
    need = missing_requirements(has)
    print(f"the machine lacks {len(need)} of pyproject's requirements: {', '.join(need)}")
    closure = resolve(need, a.python)
    kit = [d for d in closure if d["name"] not in has]
    print(f"closure for Python {a.python}, minus what the machine has: {len(kit)} wheels")
    for d in kit:
        print(f"  {d['name']}=={d['version']}")
    if a.base_out:
        base = [r for r in project_requirements() if _name(r) in has and _name(r) != "torch"]
        base += sorted(f"{d['name']}=={d['version']}" for d in closure if d["name"] in has)
        a.base_out.write_text("\n".join(base) + "\n")
    lock = Path(__file__).with_name(f"device_kit_py{a.python.replace('.', '')}.txt")
    if a.python == "3.12":  # the device's Python: the list tests/test_device_kit.py reads
        lock.write_text(f"# written by benchmarks/device_kit.py --python {a.python}: the wheels the "
                        "device lacks (tests/test_device_kit.py reads it)\n"
                        + "".join(f"{d['name']}=={d['version']}\n"
                                  for d in sorted(kit, key=lambda d: d["name"])))
    if a.resolve_only:
        return 0
    dest = a.dest or ROOT / ".whl" / f"py{a.python.replace('.', '')}"
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):  # one version of each: two stop the whole install there
        old.unlink()
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(dest),
                    *_target_flags(a.python), *[f"{d['name']}=={d['version']}" for d in kit]],
                   check=True)
    # the product itself, as a wheel: the machine runs it installed, never from the checkout
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dest), str(ROOT)],
                   check=True)
    wheels = sorted(dest.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels) / 2**20
    (dest / "KIT.txt").write_text("".join(f"{w.name}\t{w.stat().st_size}\n" for w in wheels))
    print(f"{len(wheels)} wheels, {total:.1f} MiB in {dest} (budget {BUDGET_MIB} MiB)")
    return 0 if total <= BUDGET_MIB and len(wheels) == len(kit) + 1 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The device kit covers the product: every third-party library that flows/, tasks/ or model/
imports (lazy imports too) is either on the offline H200 machine (benchmarks/device_has.txt) or in
the kit benchmarks/device_kit.py resolved for it (benchmarks/device_kit_py312.txt)."""
from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

from tests.test_layout import import_graph

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
from device_kit import ON_DEVICE, canonical, device_has, missing_requirements  # noqa: E402


def kit() -> dict[str, str]:
    lines = (line.split("#", 1)[0].strip() for line in (BENCH / "device_kit_py312.txt").read_text().splitlines())
    return dict(line.split("==") for line in lines if line)


def product_imports() -> dict[str, set[str]]:
    """Third-party top-level module -> the distributions that provide it here (mlflow/ comes from
    mlflow, mlflow-skinny and mlflow-tracing alike), over every import of the product."""
    dists = md.packages_distributions()
    out: dict[str, set[str]] = {}
    for module, names in import_graph()[1].items():
        for top in names - set(sys.stdlib_module_names) - {"__future__"}:
            assert top in dists, f"{module} imports {top}, which no installed distribution provides"
            out[top] = {canonical(d) for d in dists[top]}
    return out


def test_every_library_the_product_imports_is_on_the_device_or_in_the_kit():
    covered = device_has() | set(kit())
    for name, subs in ON_DEVICE.items():  # a substitution counts when all of it travels
        if {canonical(s) for s in subs} <= covered:
            covered.add(name)
    imports = product_imports()
    assert {"torch", "pydantic", "prefect", "mlflow", "datasets"} <= set(imports)
    uncovered = {top: sorted(d) for top, d in imports.items() if not d & covered}
    assert uncovered == {}, f"add to the kit (python benchmarks/device_kit.py): {uncovered}"


def test_the_kit_carries_what_the_device_lacks_and_nothing_it_has():
    has, wheels = device_has(), kit()
    assert not (set(wheels) & has), "a wheel the machine already has would be a second version"
    need = {canonical(r.split(">")[0].split("=")[0].split("<")[0]) for r in missing_requirements(has)}
    assert {"pydantic", "prefect", "datasets", "mlflow-skinny"} <= need <= set(wheels)
    assert "torch" in has and "torch" not in wheels

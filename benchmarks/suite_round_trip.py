"""The export round trip at demo size: does a suite measured as a source give back the sweep it came from?

Runs the sweep CONFIG (default: the bundled demo-bpe: its tokenizer is a Hugging Face one, which a
suite carries), writes its pre-trained models as a suite (`transfer-laws export-suite`), runs a
second sweep with the same settings and seeds whose source is that suite (no pre-training runs),
and prints, for every zero-shot, scratch and fine-tuned point, the two best held-out losses, the
largest difference, and the two transfer laws with their 95 % intervals. Both sweeps train the same
weights on the same data with the same arithmetic, so the losses should agree exactly; exit status
1 when any differs by more than --tolerance.

    .venv/bin/python benchmarks/suite_round_trip.py [--config demo-bpe] [--home DIR] [--bootstrap N]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "transfer_laws.flows.cli"]


def transfer_laws(*args: str) -> str:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"transfer-laws {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def round_trip(config: str, home: Path, bootstrap: str | None) -> tuple[pd.DataFrame, dict, dict]:
    """Run CONFIG and its exported suite in `home`; the merged points and both fit.json."""
    from transfer_laws.tasks.sweep.config import GROUP_OF, SweepConfig

    cfg = SweepConfig.load(config).updated(home=str(home))
    first = cfg.model_dump(exclude_defaults=True)  # in groups, as a config file is written
    first_yaml = home / "first.yaml"
    home.mkdir(parents=True, exist_ok=True)
    first_yaml.write_text(yaml.safe_dump(first))
    boot = ["--bootstrap", bootstrap] if bootstrap is not None else []
    transfer_laws("run", str(first_yaml), *boot)
    out = transfer_laws("export-suite", str(first_yaml), "--out", str(home / "suite"))
    folders: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line.startswith("/"):
            folders.setdefault(Path(line).parent.name, []).append(line)
    second = {group: dict(settings) for group, settings in first.items()}
    for name in ("sizes", "pretrain_tokens", "tokenizer", "pretrain_patience", "pretrain_replicates"):
        second.get(GROUP_OF[name], {}).pop(name, None)  # a suite brings its sizes and tokenizer, pre-trained
    second["experiment"].update(name=f"{cfg.experiment.name}-suite",
                                sources={s: {"checkpoints": f} for s, f in folders.items()})
    second_yaml = home / "second.yaml"
    second_yaml.write_text(yaml.safe_dump(second))
    transfer_laws("run", str(second_yaml), *boot)
    reports = home / "reports"
    a = pd.read_csv(reports / cfg.experiment.name / "latest" / "runs.csv")
    b = pd.read_csv(reports / f"{cfg.experiment.name}-suite" / "latest" / "runs.csv")
    both = a.merge(b, on=["N", "D", "init", "seed"], how="outer", suffixes=("_sweep", "_suite"), indicator=True)
    fits = [json.loads((reports / n / "latest" / "fit.json").read_text()) for n in (cfg.experiment.name, f"{cfg.experiment.name}-suite")]
    return both, fits[0], fits[1]


def law(fit: dict, source: str) -> str:
    t = fit["transfer"][source]
    if t.get("k") is None:
        return f"not fitted ({t.get('status')})"
    ci = t.get("ci95") or {}

    def one(name: str) -> str:
        lo, hi = (ci.get(name) or [None, None])[:2]
        return f"{name} {t[name]:.4g}" + (f" [{lo:.3g}, {hi:.3g}]" if lo is not None else "")
    return ", ".join(one(n) for n in ("k", "alpha", "beta")) + f" ({t.get('verdict', {}).get('verdict', '')})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="demo-bpe", help="a sweep config with a Hugging Face tokenizer")
    p.add_argument("--home", default=str(REPO / ".transfer-laws" / "round-trip"), help="project folder of both sweeps")
    p.add_argument("--bootstrap", help="bootstrap resamples of both fits (default: the fit's own)")
    p.add_argument("--tolerance", type=float, default=0.0, help="largest |loss difference| that passes")
    a = p.parse_args()
    both, fit_a, fit_b = round_trip(a.config, Path(a.home), a.bootstrap)
    matched = both[both["_merge"] == "both"]
    diff = (matched.loss_sweep - matched.loss_suite).abs()
    print(f"{'init':>10} {'N':>9} {'D':>9} {'loss (sweep)':>13} {'loss (suite)':>13} {'|diff|':>9}")
    for (_, r), d in zip(matched.sort_values(["init", "N", "D"]).iterrows(), diff.loc[matched.sort_values(["init", "N", "D"]).index]):
        print(f"{r.init:>10} {r.N:9.3g} {r.D:9.3g} {r.loss_sweep:13.6f} {r.loss_suite:13.6f} {d:9.2e}")
    unmatched = both[both["_merge"] != "both"]
    print(f"points: {len(matched)} in both, {len(unmatched)} in one only; largest |loss difference| {diff.max():.2e}")
    for source in fit_a.get("transfer", {}):
        print(f"law from {source}: sweep {law(fit_a, source)}")
        print(f"law from {source}: suite {law(fit_b, source)}")
    sys.exit(1 if len(unmatched) or diff.max() > a.tolerance else 0)


if __name__ == "__main__":
    main()

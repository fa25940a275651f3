"""Pack the corpora a sweep needs for a machine that reaches no network (issue 19).

Registered corpora built from Debian or npm packages (english, code-other) are fetched here, then
only what resolving them reads is packed: each corpus's `manifest.json`, `text/` and `licences/`
(not the downloaded packages), xz-compressed, into `.whl/corpora.tar.xz`, which travels with
the device kit (the ignored `.whl/` folder). `benchmarks/device_check.sh` unpacks it into its
project's cache; the target (`python`, the running Python's standard library) is built there.

    .venv/bin/python benchmarks/device_corpora.py [CONFIG]      # default configs/gpu-small.yaml
"""
from __future__ import annotations

import argparse
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEEP = ("manifest.json", "text", "licences")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", default=str(REPO / "configs" / "gpu-small.yaml"))
    p.add_argument("--out", default=str(REPO / ".whl" / "corpora.tar.xz"))
    a = p.parse_args()
    from transfer_laws.tasks.common import env
    from transfer_laws.tasks.sweep.config import SweepConfig

    cfg = SweepConfig.load(a.config)
    with tempfile.TemporaryDirectory(prefix="tl-corpora-") as tmp:
        paths = env.project_paths(tmp)
        env.apply(paths, hub=cfg.uses_hub())
        from transfer_laws.tasks.sweep.units import prepare_all

        prepare_all(cfg, paths.cache)
        corpora = paths.cache / "corpora"
        names = sorted(d.name for d in corpora.iterdir() if d.is_dir() and not d.name.startswith("."))
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:xz") as tar:
            for name in names:
                for part in KEEP:
                    if (corpora / name / part).exists():
                        tar.add(corpora / name / part, arcname=f"{name}/{part}")
    print(f"device_corpora: {', '.join(names) or 'no downloaded corpora'} -> {out} "
          f"({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

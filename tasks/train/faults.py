"""Fault injection for reliability tests (never set outside tests).

`TRANSFER_LAWS_FAULT=<kind or run_key>[,…]` makes the matching runs fail at start as a crash would;
`rank<r>` fails rank r once the process group is up, while the others go on into training.
`TRANSFER_LAWS_FAULT_FILE=<path>` reads the same list from a file while it exists, so a test can
"fix the cause" by deleting it and then retry the run.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transfer_laws.tasks.train.config import RunConfig


def injected_fault(cfg: RunConfig, rank: int | None = None) -> None:
    """Raise as a crash would when the environment names this run (rank None: its kind or run_key)
    or this rank (`rank<r>`); return quietly otherwise."""
    spec = os.environ.get("TRANSFER_LAWS_FAULT", "")
    fault_file = os.environ.get("TRANSFER_LAWS_FAULT_FILE")
    if fault_file and os.path.exists(fault_file):
        spec += "," + open(fault_file).read().strip()
    targets = {t.strip() for t in spec.split(",") if t.strip()}
    if targets & ({f"rank{rank}"} if rank is not None else {cfg.kind, cfg.run_key()}):
        where = f" on rank {rank}" if rank is not None else ""
        raise RuntimeError(f"injected fault (TRANSFER_LAWS_FAULT) in {cfg.kind} run {cfg.run_key()}{where}")

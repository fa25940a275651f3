"""Process helpers shared by training and the services."""
from __future__ import annotations

import os
import sys
import threading

# Python >= 3.11: with it set, no Python process puts its current folder (or a script's folder) first
# on sys.path, so a user's `tasks.py` or `transfer_laws.py` beside them never shadows this package.
# It is inherited, so it also covers the processes ours start in turn (accelerate's ranks, the
# flow-run processes of a Prefect worker).
SAFE_PATH = {"PYTHONSAFEPATH": "1"}

# Set when this process is being stopped (SIGTERM / SIGINT, tasks/sweep/interrupt.py): nothing starts
# a training process or a zygote any more, so the last scan for processes to kill is the last.
STOPPING = threading.Event()


class Stopping(RuntimeError):
    """Raised instead of starting a process while this one is being stopped."""


def python_module(module: str, *args: str) -> list[str]:
    """`python -P -m module args…` with this interpreter: the command of every Python process the
    project starts (-P: the current folder stays off sys.path)."""
    return [sys.executable, "-P", "-m", module, *args]


def child_env(extra: dict[str, str] | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: `base` (default: ours), `extra` on top, safe path on."""
    return {**(os.environ if base is None else base), **(extra or {}), **SAFE_PATH}


def die_with_parent(sig: int = 9) -> None:
    """Linux: this process gets `sig` (SIGKILL) when its parent dies, so a killed sweep or CLI never
    leaves an orphan training on (and writing into) a run folder, nor a server running."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

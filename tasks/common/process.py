"""Process helpers shared by training and the services."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

# Python >= 3.11: with it set, no Python process puts its current folder (or a script's folder) first
# on sys.path, so a user's `tasks.py` or `transfer_laws.py` beside them never shadows this package.
# It is inherited, so it also covers the processes ours start in turn (accelerate's ranks, the
# flow-run processes of a Prefect worker).
SAFE_PATH = {"PYTHONSAFEPATH": "1"}

# Set when this process is being stopped (SIGTERM / SIGINT, tasks/sweep/interrupt.py): nothing starts
# a training process or a zygote any more, so the last scan for processes to kill is the last.
STOPPING = threading.Event()


SIGNALS = (signal.SIGTERM, signal.SIGINT)  # what schedulers (SIGTERM) and people (SIGINT) stop us with


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


# ---- the process tree below this one, for stopping it whole (tasks/sweep/interrupt.py, tasks/services/worker.py)

def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children first), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def subreaper(on: bool) -> None:
    """Linux: while on, orphans of our descendants (a run forked while its zygote was being killed)
    are re-parented to this process instead of init, so kill_descendants still finds them."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, int(on))  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def kill_descendants(timeout: float = 5.0) -> None:
    """SIGKILL every process this one started (scanning again until none is left, since a dying
    zygote may have forked a run meanwhile), and wait (up to `timeout`) until they are gone."""
    deadline = time.monotonic() + timeout
    while (pids := [p for p in descendants(os.getpid()) if not _zombie(p)]) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap(pids, deadline)


def _reap(pids: list[int], deadline: float) -> None:
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)  # reap our own children
                if done:
                    break
            except ChildProcessError:  # not our child: wait until /proc forgets it
                if not Path(f"/proc/{pid}").exists() or _zombie(pid):
                    break
            time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

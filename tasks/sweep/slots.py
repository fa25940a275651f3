"""Device slots: how many runs train at once, and on which device each one runs.

The one resource-aware piece of the sweep. A slot is a GPU id (one run per GPU) or, on a CPU-only
machine, a share of the cores (`threads` each; two 1-thread runs were measured as fast as one
2-thread run on 2 cores, and they keep a slow run from holding the whole machine). Threads of the
flow take a slot for the duration of one training process; the queue hands them out first come,
first served, so runs submitted first (the pre-trains that gate fine-tunes) start first.
"""
from __future__ import annotations

import os
import queue
from contextlib import contextmanager
from dataclasses import dataclass

_POOLS: dict[str, queue.Queue] = {}


@dataclass(frozen=True)
class SlotLayout:
    devices: tuple[str, ...]  # "cuda:0", … or "cpu:0", …
    threads: int  # torch CPU threads per run

    def describe(self) -> str:
        kind = "GPU" if self.devices[0].startswith("cuda") else "CPU"
        return f"{len(self.devices)} {kind} slot(s), {self.threads} thread(s) per run"


def _no_gpu_driver() -> bool:
    """True when no CUDA or ROCm driver is loaded (Linux), so no GPU can be visible to torch.

    Importing torch just to ask costs ~3 s of the sweep's start-up on a CPU machine."""
    import sys

    return sys.platform == "linux" and not any(
        os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd"))


def gpu_count() -> int:
    if _no_gpu_driver():
        return 0
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def layout(slots: int | str = "auto", threads: int | str = "auto", device: str = "auto",
           processes_per_run: int = 1) -> SlotLayout:
    """One slot per GPU (per group of `processes_per_run` GPUs), or per `threads` x processes CPU cores."""
    cores = os.cpu_count() or 1
    k = max(1, processes_per_run)
    n_gpu = 0 if device == "cpu" else gpu_count()
    n_threads = max(1, cores // max(1, n_gpu)) if n_gpu and threads == "auto" else (
        1 if threads == "auto" else int(threads))
    if n_gpu:
        groups = [",".join(str(g) for g in range(i, i + k)) for i in range(0, n_gpu - k + 1, k)]
        if not groups:
            from tasks.common.errors import InputError

            raise InputError("processes_per_run", k, f"needs {k} GPUs per run but {n_gpu} are visible",
                             f"set processes_per_run <= {n_gpu}")
        n = len(groups) if slots == "auto" else int(slots)
        return SlotLayout(tuple(f"cuda:{groups[i % len(groups)]}" for i in range(n)), n_threads)
    n = max(1, cores // (n_threads * k)) if slots == "auto" else int(slots)
    return SlotLayout(tuple(f"cpu:{i}" for i in range(n)), n_threads)


def env_for(device: str, threads: int) -> dict[str, str]:
    """The environment of a training process on `device`."""
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if device.startswith("cuda:"):
        env["CUDA_VISIBLE_DEVICES"] = device.split(":")[1]
    elif device.startswith("cpu"):
        env["CUDA_VISIBLE_DEVICES"] = ""
    # plain "cuda": the GPUs this process was given (a worker pinned with CUDA_VISIBLE_DEVICES)
    return env


def open_pool(key: str, slot_layout: SlotLayout) -> None:
    pool: queue.Queue = queue.Queue()
    for d in slot_layout.devices:
        pool.put(d)
    _POOLS[key] = pool


@contextmanager
def take(key: str):
    """Block until a slot of pool `key` is free; yield its device id."""
    pool = _POOLS[key]
    device = pool.get()
    try:
        yield device
    finally:
        pool.put(device)

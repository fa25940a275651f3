"""Device slots: how many runs train at once, and on which device each one runs.

The one resource-aware piece of the sweep. A slot is a GPU id (`runs_per_gpu` runs per GPU, each its
own process) or, on a CPU-only
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

    @property
    def device_kind(self) -> str:
        """'cuda' or 'cpu': the kind every slot of the layout is."""
        return "cuda" if self.devices[0].startswith("cuda") else "cpu"

    def describe(self) -> str:
        kind = "GPU" if self.device_kind == "cuda" else "CPU"
        per_gpu = len(self.devices) // len(set(self.devices))
        packed = f", {per_gpu} runs per GPU" if kind == "GPU" and per_gpu > 1 else ""
        return f"{len(self.devices)} {kind} slot(s){packed}, {self.threads} thread(s) per run"


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
           processes_per_run: int = 1, runs_per_gpu: int = 1, n_gpu: int | None = None,
           cores: int | None = None) -> SlotLayout:
    """`runs_per_gpu` slots per GPU (per group of `processes_per_run` GPUs), or one per `threads` x
    processes CPU cores. Packed slots are dealt round-robin over the GPUs, so the first runs to
    start land on different GPUs; the host's cores are split evenly over every packed process.
    (`n_gpu` and `cores` default to what this machine has.)"""
    cores = cores or os.cpu_count() or 1
    k = max(1, processes_per_run)
    n_gpu = (0 if device == "cpu" else gpu_count()) if n_gpu is None else n_gpu
    packed = max(1, runs_per_gpu) if n_gpu else 1
    n_threads = max(1, cores // (n_gpu * packed)) if n_gpu and threads == "auto" else (
        1 if threads == "auto" else int(threads))
    if n_gpu:
        groups = [",".join(str(g) for g in range(i, i + k)) for i in range(0, n_gpu - k + 1, k)]
        if not groups:
            from transfer_laws.tasks.common.errors import InputError

            raise InputError("processes_per_run", k, f"needs {k} GPUs per run but {n_gpu} are visible",
                             f"set processes_per_run <= {n_gpu}")
        n = len(groups) * packed if slots == "auto" else int(slots)
        return SlotLayout(tuple(f"cuda:{groups[i % len(groups)]}" for i in range(n)), n_threads)
    n = max(1, cores // (n_threads * k)) if slots == "auto" else int(slots)
    return SlotLayout(tuple(f"cpu:{i}" for i in range(n)), n_threads)


def gpu_memory_bytes() -> float:
    import torch

    return float(torch.cuda.get_device_properties(0).total_memory)


def layout_for(cfg, largest=None) -> SlotLayout:
    """The slot layout of a sweep config: its slots, threads, device and processes, and its
    runs per GPU (`auto`: tasks.sweep.gpu_rules.runs_per_gpu for its largest model: `largest`,
    a shape or architecture, where the sizes come from a suite; else the largest of `sizes`)."""
    n_gpu = 0 if cfg.execution.device == "cpu" else gpu_count()
    per_gpu = cfg.execution.runs_per_gpu
    if per_gpu == "auto":
        per_gpu = 1
        if n_gpu and cfg.optimiser.processes_per_run == 1:
            from transfer_laws.tasks.sweep.gpu_rules import runs_per_gpu

            largest = largest or cfg.shape(max(cfg.experiment.sizes), cfg.vocab_size())
            per_gpu = runs_per_gpu(largest, cfg.optimiser.batch_size, gpu_memory_bytes(),
                                   (os.cpu_count() or 1) // n_gpu)
    return layout(cfg.execution.slots, cfg.execution.threads_per_run, cfg.execution.device, cfg.optimiser.processes_per_run,
                  runs_per_gpu=per_gpu, n_gpu=n_gpu)


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

"""The two GPU layout rules of a sweep: how many runs share one GPU, and which runs are compiled.

Both are pure functions of numbers the sweep already has (the model's shape, the batch, the run's
expected steps, a measured step time) and of a few constants, each with where it came from. The
constants marked "assumed" have no measurement on a GPU yet: `benchmarks/device_check.sh` prints
the measured values (packing gain, compile seconds and speedup) that replace them.
"""
from __future__ import annotations

from dataclasses import dataclass

from transfer_laws.model.shapes import Shape

# ---- packing: runs per GPU -----------------------------------------------------------------------
MAX_RUNS_PER_GPU = 8  # assumed: past this, CUDA time-slicing between processes gains nothing more
PACK_BELOW_N = 3e7  # assumed: from ~3e7 non-embedding parameters one run keeps an H200 busy
CUDA_CONTEXT_BYTES = 0.75 * 2**30  # per process: CUDA context, cuBLAS workspace, allocator slack
USABLE_MEMORY = 0.85  # share of the GPU's memory the packed runs may plan to fill


def run_memory_bytes(shape: Shape, batch_size: int) -> float:
    """Peak memory of one training process, bf16 autocast with fp32 master weights and AdamW.

    16 bytes per parameter (fp32 weights, gradients, Adam's two moments); activations kept for the
    backward pass at ~34 bytes per token, layer and width unit (Korthikanti et al. 2022, eq. 2,
    without the attention-score term: SDPA's flash kernel keeps no scores); the logits in bf16,
    their fp32 copy for the loss and its gradient (10 bytes per token and vocabulary entry); and
    the process's fixed CUDA overhead."""
    tokens = batch_size * shape.n_ctx
    states = 16.0 * shape.params_total
    activations = 34.0 * tokens * shape.d_model * shape.n_layer
    logits = 10.0 * tokens * shape.vocab_size
    return states + activations + logits + CUDA_CONTEXT_BYTES


def runs_per_gpu(shape: Shape, batch_size: int, gpu_bytes: float, cores_per_gpu: int) -> int:
    """`runs_per_gpu: auto` for a sweep whose largest model is `shape`: one run for models that
    fill the GPU on their own; else as many as fit its memory, at most one per host core (each
    process needs a core to launch its kernels) and at most MAX_RUNS_PER_GPU."""
    if shape.params_non_embedding >= PACK_BELOW_N:
        return 1
    by_memory = int(USABLE_MEMORY * gpu_bytes // run_memory_bytes(shape, batch_size))
    return max(1, min(MAX_RUNS_PER_GPU, max(1, cores_per_gpu), by_memory))


# ---- torch.compile: which runs ---------------------------------------------------------------------
@dataclass(frozen=True)
class CompileCost:
    compile_s: float  # one-off: the first compiled step minus a steady one
    speedup: float  # eager seconds per step / compiled seconds per step, once compiled
    source: str  # where the two numbers come from


COMPILE_COST = {
    # benchmarks/compile_cost.py on this project's 2-core CPU machine (1 thread, N = 1e5, batch
    # 32 x 128, 2026-12-03): compiling took 57 s and the compiled step was slower (0.81x), so on a
    # CPU `auto` never compiles
    "cpu": CompileCost(57.0, 0.81, "measured: benchmarks/compile_cost.py, 2 CPU cores"),
    "cuda": CompileCost(60.0, 1.3, "assumed until benchmarks/device_check.sh measures it"),
}


def compile_pays(device_kind: str, est_steps: int, step_seconds: float) -> bool:
    """`compile: auto` for one run: compile when the time its expected steps save at the measured
    speedup exceeds the compile time."""
    cost = COMPILE_COST[device_kind]
    if cost.speedup <= 1.0:
        return False
    saved = est_steps * step_seconds * (1.0 - 1.0 / cost.speedup)
    return saved > cost.compile_s

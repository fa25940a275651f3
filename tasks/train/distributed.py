"""Multi-process (data-parallel) runs: how they are launched, and the few collectives the core uses.

A run with `processes_per_run = n > 1` is started by accelerate's launcher (torchrun underneath) as
n processes on this machine: one GPU each with CUDA, or n CPU processes talking over gloo without
it (accelerate picks MULTI_CPU + gloo when a launched process creates its Accelerator with
`cpu=True`, which the core does whenever it trains on CPU).

Semantics: `batch_size` stays the global batch. Rank r trains on slice r of the step's batch (still
a pure function of (seed, step)), DDP averages the gradients, and the logged train loss and the
held-out loss are reduced over ranks: the curve is the one-process curve up to float summation
order, and every rank takes the same early-stopping decisions. Rank 0 alone writes files
(metrics, run.json, result.json, best/); `save_state` runs on every rank (each saves its RNG state).

The launcher reads no stray configuration: it gets explicit flags plus `--config_file` naming a
file written into the run folder, so `$HF_HOME/accelerate/default_config.yaml` (which `accelerate
launch` reads whenever it exists) is never opened, and inherited `ACCELERATE_*` variables are
dropped. It runs through this module's `__main__`, a shim around `accelerate.commands.launch`, for
two reasons: the launcher gets SIGKILL when its parent dies (as every training process does;
`preexec_fn` is unsafe in threaded callers), and its exit status is the failing rank's own
(2 bad input, 3 diverged, 4 busy, -N a signal) instead of torchrun's blanket 1.
"""
from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

from transfer_laws.tasks.common.process import child_env, python_module

# Seconds a collective (a barrier around rank 0's saves, a loss reduction) may wait for the other
# ranks: a hung rank then fails the run instead of blocking it forever. A rank that dies is noticed
# sooner: the launcher stops the others at once.
COLLECTIVE_TIMEOUT_S = 600


def rank_of(cfg) -> int:
    """This process's global rank as the launcher set it; 0 in a one-process run, whatever a
    stray RANK in the environment says."""
    return int(os.environ.get("RANK", "0")) if cfg.processes_per_run > 1 else 0


def rank_result_path(result_path: Path, rank: int) -> Path:
    """Where rank > 0 reports a failure (rank 0 owns result.json)."""
    return result_path.with_name(f"{result_path.stem}.rank{rank}{result_path.suffix}")


def first_failure(result_path: Path) -> dict | None:
    """The earliest failure any rank reported: the root cause (later ones are usually its echo,
    such as rank 0's 'connection closed' after rank 1 died)."""
    failures = []
    for path in [result_path, *result_path.parent.glob(f"{result_path.stem}.rank*{result_path.suffix}")]:
        try:
            outcome = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if outcome.get("status") == "FAILED":
            failures.append(outcome)
    return min(failures, key=lambda o: o.get("failed_at", math.inf)) if failures else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_launcher_config(path: Path, n: int) -> Path:
    """An explicit accelerate config, so the launcher never falls back to a default one. The core
    passes its own mixed precision to `Accelerator(...)`, which wins over the launcher's "no"."""
    path.write_text(json.dumps({
        "compute_environment": "LOCAL_MACHINE", "distributed_type": "MULTI_GPU", "num_processes": n,
        "num_machines": 1, "machine_rank": 0, "gpu_ids": "all", "mixed_precision": "no",
        "use_cpu": False, "debug": False, "rdzv_backend": "static", "same_network": True}, indent=1))
    return path


def launcher_command(n: int, config_file: Path, port: int, entry_argv: list[str]) -> list[str]:
    """`python -m accelerate.commands.launch …` (through the shim below) running the entry n times."""
    return python_module("transfer_laws.tasks.train.distributed",
            "--config_file", str(config_file), "--multi_gpu", "--num_processes", str(n),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(port), "-m", "transfer_laws.tasks.train.entry", *entry_argv)


def launcher_env(cfg, env: dict[str, str] | None) -> dict[str, str]:
    child = child_env(env, base={k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")})
    # n processes share the cores (torchrun would otherwise set 1 thread each, with a warning)
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // cfg.processes_per_run)
    child.setdefault("OMP_NUM_THREADS", str(threads))
    return child


def run_launcher(cfg, entry_argv: list[str], result_path: Path, env: dict[str, str] | None,
                 log_path: str | None, timeout: float | None) -> int:
    """Run the n processes of `cfg` to their end and return the launcher's exit status; raise
    subprocess.TimeoutExpired once `timeout` ran out (the launcher is killed, its ranks die with it)."""
    out = Path(cfg.out_dir)
    for stale in result_path.parent.glob(f"{result_path.stem}.rank*{result_path.suffix}"):
        stale.unlink()
    n = cfg.processes_per_run
    cmd = launcher_command(n, write_launcher_config(out / "accelerate_config.json", n), _free_port(),
                           entry_argv)
    log = open(log_path, "ab") if log_path else None
    try:
        return subprocess.run(cmd, env=launcher_env(cfg, env), timeout=timeout, stdout=log,
                              stderr=subprocess.STDOUT if log else None).returncode
    finally:
        if log:
            log.close()


# ---- inside a run (used by the core; torch is imported only there) -------------------------------
def process_group_kwargs():
    from datetime import timedelta

    from accelerate.utils import InitProcessGroupKwargs

    return InitProcessGroupKwargs(timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))


def check_devices(cfg, use_cpu: bool) -> None:
    """Before a process group forms: one GPU per local process must be visible."""
    if cfg.processes_per_run == 1 or use_cpu:
        return
    import torch

    from transfer_laws.tasks.common.errors import InputError

    local, visible = int(os.environ.get("LOCAL_WORLD_SIZE", cfg.processes_per_run)), torch.cuda.device_count()
    if visible < local:
        raise InputError("processes_per_run", cfg.processes_per_run, f"needs {local} GPUs here, "
                         f"{visible} visible", "lower processes_per_run, show more GPUs or use device cpu")


def check_world(acc, cfg) -> None:
    if acc.num_processes != cfg.processes_per_run:
        raise RuntimeError(
            f"processes_per_run={cfg.processes_per_run}, but this run has {acc.num_processes} process(es) "
            f"({acc.distributed_type}); start multi-process runs with tasks.train.launch.launch, "
            "which uses accelerate's launcher")


def sum_over_ranks(acc, values: list[float]) -> list[float]:
    """Sums over ranks in float64, then rank 0's copy everywhere: the same bits on every rank, so
    every rank takes the same early-stopping decision."""
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=acc.device)
    dist.all_reduce(t)
    dist.broadcast(t, src=0)
    return t.tolist()


def from_main(acc, value):
    """`value` as rank 0 computed it, on every rank (rank 0 alone inspects and repairs files)."""
    if acc.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def _launcher_main(argv: list[str]) -> int:
    """`python -m accelerate.commands.launch argv`, dying with its parent, exiting as the root-cause rank."""
    from transfer_laws.tasks.common.process import die_with_parent

    die_with_parent()
    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        launch_command(launch_command_parser().parse_args(argv))
    except ChildFailedError as exc:
        code = exc.get_first_failure()[1].exitcode
        if code < 0:  # a rank was killed by a signal (OOM?): end the same way, callers see -N
            import signal

            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        return code or 1
    return 0


if __name__ == "__main__":
    sys.exit(_launcher_main(sys.argv[1:]))

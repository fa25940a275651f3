"""The benchmark scripts run and print their figures (their check modes, not measurements).

`gpu_check.py --cpu-smoke` runs on every test run: it is the only way its code runs before it
meets a GPU. The `--quick` modes of the CPU benchmarks each take 15-40 s on 2 cores (a zygote
start, several short runs, a cold process for memory_rss), so they are `slow` (`make test-slow`).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str, timeout: float = 240) -> str:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_gpu_check_cpu_smoke_prints_every_figure():
    out = run_script("gpu_check.py", "--cpu-smoke")
    for line in ("bf16 matmul peak", "SDPA backends usable", "model eager", "our loop",
                 "one at a time:", "packing gain (2 runs at once / one at a time)", "summary", "MFU"):
        assert line in out, f"{line!r} missing from:\n{out}"
    assert "FAILED" not in out


@pytest.mark.slow
def test_slot_layout_quick():
    out = run_script("slot_layout.py", "--quick")
    assert "2x1" in out and "1x2" in out and "ratio 2x1 / 1x2: train-only" in out
    assert "default:" in out


@pytest.mark.slow
def test_eval_logging_cost_quick():
    out = run_script("eval_logging_cost.py", "--quick")
    for line in ("evaluation (forward passes):", "evaluation incl. saves:", "(goal <= 10 %)",
                 "MLflow in the launcher: open", "(goal <= 1 %)"):
        assert line in out, f"{line!r} missing from:\n{out}"


@pytest.mark.slow
def test_memory_rss_quick():
    out = run_script("memory_rss.py", "--quick")
    assert "peak RSS of the training process:" in out and "2 GB goal" in out


@pytest.mark.slow
def test_train_throughput_quick():
    out = run_script("train_throughput.py", "--quick")
    assert "ours / plain for N >= 1e5: gpt2 bytes N=1e+05:" in out
    assert "gpt2 bpe:4096 N=1e+05" in out and "llama bytes N=1e+05" in out


@pytest.mark.slow
def test_compile_cost_prints_the_numbers_behind_compile_auto():
    out = run_script("compile_cost.py", "--n", "1e4", "--steps", "6")
    assert "speedup" in out and "compile" in out and "s/step" in out


@pytest.mark.slow
def test_auth_cost_prints_the_three_servers_figures():
    out = run_script("auth_cost.py", "--requests", "5")
    assert "basic-auth without login cache" in out and "goal: authentication costs a call" in out, out

"""Cumulative seconds per phase of a run, for the benchmarks (`RunResult.timings`)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


class Timers:
    """Named stopwatches that add up: `with timers.measure("eval_s"): ...` each time the phase runs."""

    def __init__(self, *names: str) -> None:
        self.seconds = dict.fromkeys(names, 0.0)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - t0

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.seconds.items()}

"""Which run takes the next free slot: the one with the longest remaining critical path.

A sweep's wall time is set by its tail: when one slot still trains a long run while the others have
nothing left, the sweep waits. Starting the longest chains first (a pre-train together with its
longest fine-tune, then the longest independent runs) leaves short runs to fill the gaps at the
end — longest-processing-time-first list scheduling, extended to the pre-train -> fine-tune edges.
Pure (no Prefect, no MLflow, no torch): the sweep flow and `dry-run`'s estimate use the same policy.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol


class Schedulable(Protocol):
    run_key: str
    needs: tuple[str, ...]  # runs that must end first (a fine-tune's pre-train and lr search)


def critical_paths(runs: Iterable[Schedulable], cost: Callable[[Schedulable], float]) -> dict[str, float]:
    """run_key -> its own cost plus the longest chain of runs that must wait for it."""
    runs = list(runs)
    children: dict[str, list[Schedulable]] = {}
    for r in runs:
        for dep in r.needs:
            children.setdefault(dep, []).append(r)
    memo: dict[str, float] = {}

    def path(r: Schedulable) -> float:
        if r.run_key not in memo:
            memo[r.run_key] = cost(r) + max((path(c) for c in children.get(r.run_key, [])), default=0.0)
        return memo[r.run_key]

    return {r.run_key: path(r) for r in runs}


@dataclass
class Dispatcher:
    """Hands out runs to at most `capacity` slots, never a run before every run it needs has ended.

    `done` runs (already finished in an earlier sweep) need no slot: they are released at once.
    A child of a failed run is released too (it cannot train; the caller records why).
    """

    runs: list[Schedulable]
    cost: Callable[[Schedulable], float]
    capacity: int
    done: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}")
        self._priority = critical_paths(self.runs, self.cost)
        self._waiting = {r.run_key: r for r in self.runs}
        self._ended: set[str] = set()
        self._busy: set[str] = set()

    def _ready(self) -> list[Schedulable]:
        return [r for r in self._waiting.values() if all(dep in self._ended for dep in r.needs)]

    def next_runs(self) -> list[Schedulable]:
        """Runs to start now: every done one, then the longest paths while slots are free."""
        out = []
        while released := [r for r in self._ready() if r.run_key in self.done]:
            for r in released:
                out.append(self._waiting.pop(r.run_key))
                self._ended.add(r.run_key)
        ready = sorted(self._ready(), key=lambda r: -self._priority[r.run_key])
        for r in ready[: max(0, self.capacity - len(self._busy))]:
            out.append(self._waiting.pop(r.run_key))
            self._busy.add(r.run_key)
        return out

    def finished(self, run_key: str) -> list[Schedulable]:
        """Record that a run ended (well or not); return the runs that may start now."""
        self._busy.discard(run_key)
        self._ended.add(run_key)
        return self.next_runs()

    @property
    def pending(self) -> int:
        return len(self._waiting)


def simulate(runs: list[Schedulable], cost: Callable[[Schedulable], float], capacity: int,
             seconds: Callable[[Schedulable], float] | None = None) -> dict[str, tuple[float, float]]:
    """run_key -> (start, end) when the dispatcher runs `runs` with these durations (default: cost)."""
    seconds = seconds or cost
    d = Dispatcher(runs, cost, capacity)
    clock, running, spans = 0.0, {}, {}
    for r in d.next_runs():
        running[r.run_key] = clock + seconds(r)
        spans[r.run_key] = (clock, running[r.run_key])
    while running:
        key = min(running, key=running.get)
        clock = running.pop(key)
        for r in d.finished(key):
            running[r.run_key] = clock + seconds(r)
            spans[r.run_key] = (clock, running[r.run_key])
    return spans

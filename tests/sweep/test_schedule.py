"""The sweep's dispatch policy: capacity, parent-before-child, no idle slot, longest chain first."""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from transfer_laws.tasks.sweep.schedule import Dispatcher, critical_paths, simulate


@dataclass(frozen=True)
class R:
    run_key: str
    parent: str
    cost: float
    after: tuple[str, ...] = ()  # e.g. the lr-search runs a fine-tune waits for

    @property
    def needs(self) -> tuple[str, ...]:
        return ((self.parent,) if self.parent else ()) + self.after


@st.composite
def sweeps(draw):
    """Pre-trains with fine-tunes hanging off them (some waiting on an lr search of the same
    pre-train too), plus independent scratch runs."""
    runs = []
    for p in range(draw(st.integers(0, 4))):
        runs.append(R(f"p{p}", "", draw(st.floats(1, 100))))
        search = tuple(f"p{p}l{i}" for i in range(draw(st.integers(0, 3))))
        runs += [R(k, f"p{p}", draw(st.floats(0.5, 20))) for k in search]
        for c in range(draw(st.integers(0, 5))):
            runs.append(R(f"p{p}c{c}", f"p{p}", draw(st.floats(0.5, 100)), after=search))
    for s in range(draw(st.integers(0, 8))):
        runs.append(R(f"s{s}", "", draw(st.floats(0.5, 100))))
    return runs


@settings(max_examples=200, deadline=None)
@given(sweeps(), st.integers(1, 4))
def test_every_run_once_within_capacity_and_after_what_it_needs(runs, capacity):
    spans = simulate(runs, cost=lambda r: r.cost, capacity=capacity)
    assert set(spans) == {r.run_key for r in runs}
    for r in runs:
        start, end = spans[r.run_key]
        assert abs((end - start) - r.cost) < 1e-9
        for dep in r.needs:
            assert start >= spans[dep][1]
    for t in {s for s, _ in spans.values()}:  # concurrency is highest just after a start
        assert sum(s <= t < e for s, e in spans.values()) <= capacity


@settings(max_examples=200, deadline=None)
@given(sweeps(), st.integers(1, 4))
def test_no_slot_idles_while_a_run_is_ready(runs, capacity):
    spans = simulate(runs, cost=lambda r: r.cost, capacity=capacity)
    for r in runs:
        start, _ = spans[r.run_key]
        ready_at = max((spans[dep][1] for dep in r.needs), default=0.0)
        if start > ready_at:  # it waited, so every slot was busy just before it started
            assert sum(s < start <= e for s, e in spans.values()) >= capacity


def test_longest_chain_starts_first_and_shortens_the_tail():
    # a cheap pre-train gating a long fine-tune loses to nothing it would have waited behind
    runs = [R("s1", "", 10), R("s2", "", 10), R("p", "", 2), R("pc", "p", 30)]
    paths = critical_paths(runs, lambda r: r.cost)
    assert paths["p"] == 32 and paths["pc"] == 30 and paths["s1"] == 10
    spans = simulate(runs, cost=lambda r: r.cost, capacity=2)
    assert spans["p"][0] == 0.0
    assert max(e for _, e in spans.values()) == 32.0  # plan order (s1, s2, p, pc) would take 42


def test_done_runs_need_no_slot_and_release_their_children():
    runs = [R("p", "", 5), R("pc", "p", 5), R("s", "", 5)]
    d = Dispatcher(runs, cost=lambda r: r.cost, capacity=1, done={"p"})
    first = [r.run_key for r in d.next_runs()]
    assert first[0] == "p" and len(first) == 2  # p passes through; one slot goes to pc or s
    assert d.pending == 1
    assert [r.run_key for r in d.finished(first[1])] == [k for k in ("pc", "s") if k != first[1]]


def test_run_cost_counts_evaluations_and_fixed_costs_not_only_6ND():
    """A small-D run that evaluates every step costs more than 6 N D says, relative to a long run:
    the dispatcher orders runs by `est_work`, so such a run must not be left for the very end."""
    from transfer_laws.model.shapes import shape_for
    from transfer_laws.tasks.sweep.run_graph import PlannedRun
    from transfer_laws.tasks.train.config import RunConfig

    shape = shape_for(3300, n_ctx=128)

    def run(d: int, eval_interval: int) -> PlannedRun:
        cfg = RunConfig(n_layer=shape.n_layer, d_model=shape.d_model, n_head=shape.n_head, n_ctx=128,
                        batch_size=32, max_steps=600, warmup_steps=50, eval_interval=eval_interval,
                        eval_tokens=16384, patience=4, dataset_tokens=d, data_dir="x", out_dir="x")
        return PlannedRun("scratch", f"D={d}", shape, "", cfg)

    small, large = run(3000, 1), run(100_000, 25)
    assert small.est_steps >= 50 + 4, "a scratch run warms up, then waits `patience` evaluations"
    assert large.est_steps == 600
    flops_ratio = small.est_flops / large.est_flops
    work_ratio = small.est_work / large.est_work
    assert work_ratio > 2 * flops_ratio, (work_ratio, flops_ratio)


@settings(deadline=None)  # the first example imports the planner
@given(st.integers(130, 10**8), st.integers(130, 10**8))
def test_planned_epochs_fall_with_d_down_to_the_floor(d1, d2):
    """Fig. 15's shape, as the planner assumes it: fewer epochs on more data, fine-tunes no more than
    from scratch, and never fewer than EPOCHS_FLOOR (the cosine decay keeps large-D runs going)."""
    from transfer_laws.tasks.sweep.run_rules import EPOCHS_FLOOR, est_epochs

    lo, hi = sorted((d1, d2))
    for kind in ("scratch", "finetune"):
        assert est_epochs(kind, lo) >= est_epochs(kind, hi) >= EPOCHS_FLOOR
    assert est_epochs("finetune", lo) <= est_epochs("scratch", lo)
    assert est_epochs("scratch", 10**8) == EPOCHS_FLOOR

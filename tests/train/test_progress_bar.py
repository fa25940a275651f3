"""Progress output suits its sink: a bar on a terminal, plain timed lines in a file or pipe."""
from __future__ import annotations

import io

from transfer_laws.tasks.train.progress_bar import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_file_gets_one_plain_line_per_interval_and_a_last_one():
    out = io.StringIO()
    p = Progress(total=2000, stream=out, interval=3600)
    for _ in range(2000):
        p.set_postfix(loss="1.2345")
        p.update(1)
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "\r" not in out.getvalue()  # no bar frames
    assert lines[0].startswith("step 2000/2000 (100 %)") and "loss=1.2345" in lines[0]


def test_every_interval_adds_a_line():
    out = io.StringIO()
    p = Progress(total=10, initial=4, stream=out, interval=0)
    for _ in range(6):
        p.update(1)
    p.close()
    lines = out.getvalue().splitlines()
    assert [ln.split(" (")[0] for ln in lines] == [f"step {i}/10" for i in range(5, 11)] + ["step 10/10"]


def test_a_terminal_gets_a_tqdm_bar():
    out = Terminal()
    p = Progress(total=50, stream=out)
    assert p.bar is not None
    for _ in range(50):
        p.update(1)
    p.close()
    assert "50/50" in out.getvalue() and "\r" in out.getvalue()

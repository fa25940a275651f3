"""Training progress that suits where it goes: a tqdm bar on a terminal, else one plain line every
few seconds. A bar written to a file or a pipe is a stream of carriage-return frames (measured:
~1 MB of them for a 2000-step `transfer-laws train` run sent to a file); a line each
`interval` seconds is what a log reader can use."""
from __future__ import annotations

import sys
import time
from typing import TextIO

LINE_INTERVAL_S = 5.0


class Progress:
    """`update(n)`, `set_postfix(**values)`, `close()`: the part of tqdm's interface training uses."""

    def __init__(self, total: int, initial: int = 0, stream: TextIO | None = None,
                 interval: float = LINE_INTERVAL_S, force_lines: bool = False):
        self.stream = stream or sys.stderr
        self.total, self.n, self.interval = total, initial, interval
        self.postfix: dict[str, str] = {}
        self.bar = None
        if not force_lines and getattr(self.stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=self.stream)
        self.t0 = self.last = time.monotonic()

    def set_postfix(self, **values) -> None:
        self.postfix = {k: str(v) for k, v in values.items()}
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line(now)

    def _line(self, now: float) -> None:
        extra = " ".join(f"{k}={v}" for k, v in self.postfix.items())
        print(f"step {self.n}/{self.total} ({100 * self.n / max(self.total, 1):.0f} %), "
              f"{now - self.t0:.0f} s{' ' + extra if extra else ''}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            self._line(time.monotonic())

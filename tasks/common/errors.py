"""The one error type for bad user input, raised before any work starts.

Every message names the field, the value, what is wrong and how to fix it, so the CLI can print it
as-is and exit with code 2.
"""
from __future__ import annotations

MISSING = object()  # the value of a field that was not given at all


class InputError(ValueError):
    """Bad input from a user: config field, CLI flag, corpus, CSV row or checkpoint."""

    def __init__(self, field: str, value: object, problem: str, fix: str):
        self.field, self.value, self.problem, self.fix = field, value, problem, fix
        shown = value if isinstance(value, (int, float)) else repr(value)
        if isinstance(shown, str) and len(shown) > 200:
            shown = shown[:200] + "…"
        head = field if value is MISSING else f"{field} = {shown}"
        super().__init__(f"{head}: {problem}. Fix: {fix}")


class ReportedInputError(InputError):
    """An InputError raised in another process and reported back as its finished message."""

    def __init__(self, message: str):
        self.field, self.value, self.problem, self.fix = "", None, message, ""
        ValueError.__init__(self, message)


class ReportedFailure(RuntimeError):
    """Work that started and then failed for a reason its message explains (a full disk, a run
    that crashed or was killed): the CLI prints it as one line, `transfer-laws VERB: error: …`,
    and exits with code 1 (2 stays reserved for bad input)."""

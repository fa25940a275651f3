"""The committed reports read in two minutes: verdicts in words, no raw JSON, tables at three
significant figures, every figure in the folder linked with a caption, a glossary last."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from transfer_laws.tasks.report.fit import FIGURE_CAPTIONS, GLOSSARY

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
NUMBER = re.compile(r"(?<![\w.])-?(\d+\.?\d*)(?:e[+-]\d+)?(?![\w.])")


def significant_digits(mantissa: str) -> int:
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits.rstrip("0")) if "." not in mantissa else len(digits)


@pytest.mark.parametrize("name", ["demo", "demo-replicated", "paper-cpu", "paper-cpu-v1"])
def test_a_committed_report_is_readable(name):
    folder = RESULTS / name
    report = (folder / "report.md").read_text()
    assert "```" not in report  # fit.json holds the detail; the report says it in words
    assert [p.name for p in folder.glob("*.png") if f"]({p.name})" not in report] == []
    assert all(f"**[{f}]({f})**: {FIGURE_CAPTIONS[f]}." in report for f in FIGURE_CAPTIONS if (folder / f).exists())
    assert report.rindex("\n## ") == report.index("\n## Glossary") and all(f"**{t}**" in report for t, _ in GLOSSARY)
    assert re.search(r"## Transfer law from `[^`]+` .*: (resolved|unresolved|degenerate|not measured)\n", report)
    fit_part = report.split("## Fine-tuning learning rate")[0]  # the lr search compares losses to 1e-4
    rows = [line for line in fit_part.splitlines() if line.startswith("|") and "---" not in line]
    wide = [(line, m) for line in rows for m in NUMBER.findall(line) if significant_digits(m) > 3]
    assert wide == [], wide[:5]

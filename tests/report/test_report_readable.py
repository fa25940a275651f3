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


@pytest.mark.parametrize("name", ["demo", "demo-v2", "demo-replicated", "paper-cpu", "paper-cpu-v1"])
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
    title, facts = report.splitlines()[0], report.splitlines()[2]
    assert title.startswith("# Transfer from `") and title.endswith(" to `python`"), title
    assert facts.startswith("sweep `") and "transfer-laws " in facts and " runs · 2026-" in facts, facts
    summary = report.split("\n\n")[2]  # one paragraph in words before the headline
    assert re.match(r"\d+ from-scratch points.* give the loss surface L\(N, D\), \w+\.", summary), summary
    for law in re.findall(r"The law D_T = k D_F\^alpha N\^beta from `[^`]+` is (\w+)", summary):
        assert law == "resolved" or "do not quote it as a finding" in summary


@pytest.mark.parametrize("name", ["demo", "demo-v2", "demo-replicated", "paper-cpu", "paper-cpu-v1"])
def test_the_html_rendering_shows_every_figure_inline(name, tmp_path):
    """report.html (logged to MLflow beside report.md; not committed here: figures make it ~1 MB)."""
    from transfer_laws.tasks.report.html import render

    folder = RESULTS / name
    report = (folder / "report.md").read_text()
    page = render(report, folder)
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    assert shown and page.count('src="data:image/png;base64,') == len(shown)
    assert "<h2>Headline</h2>" in page and "<table>" in page and "<script" not in page

"""report.html: report.md rendered once, its figures inline, so one file shows the whole report.

The MLflow UI shows an HTML artifact in a sandboxed frame where links to the run's other artifacts
do not resolve: every figure the report shows is embedded as a data: URI. Markdown is rendered by
markdown-it-py (CommonMark plus tables; raw HTML in the Markdown is escaped, never passed through).
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;line-height:1.5;color:#1b1b1b}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}th{background:#f3f3f3}
img{max-width:100%;height:auto}code{background:#f3f3f3;padding:0 .2rem}h1,h2{border-bottom:1px solid #ddd}"""


def render(markdown_text: str, folder: Path) -> str:
    """A standalone HTML page of `markdown_text`; images that are files in `folder` are inlined."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)

    def inline(match: re.Match) -> str:
        src = html.unescape(match.group(1))
        path = folder / src
        if "/" in src or not src.endswith(".png") or not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+)"', inline, body)
    title = next((line[2:].strip() for line in markdown_text.splitlines() if line.startswith("# ")), "report")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n{body}</body></html>\n")


def write_html(folder: Path) -> Path:
    """Render folder/report.md into folder/report.html (replacing it) and return its path."""
    out = folder / "report.html"
    out.write_text(render((folder / "report.md").read_text(), folder))
    return out

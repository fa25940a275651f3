"""fit.json's `curve_forms` and report.md's table: each scratch-curve form's rollout error.

The math is tasks/fitting/curve_forms.py; this turns its CurveChoice into the fit.json entry and
the few report lines a reader compares the forms by.
"""
from __future__ import annotations

import math

from transfer_laws.tasks.fitting.curve_forms import CurveChoice, FormRollout

BOOTSTRAP_NOTE = ("the chosen form is held fixed in every resample: intervals are conditional on "
                  "it (tasks/fitting/curve_forms.py says why)")


def _rollout_dict(r: FormRollout) -> dict:
    return {"median_abs_ln_error": r.median, "per_size": {repr(n): e for n, e in r.per_size.items()},
            "skipped": {repr(n): why for n, why in r.skipped.items()}, "same_as": r.same_as}


def curve_forms_entry(choice: CurveChoice | None) -> dict:
    """The requested and chosen forms, and every form's leave-the-largest-D-out error."""
    if choice is None:
        return {"status": "skipped"}
    return {"requested": choice.requested, "chosen": choice.chosen, "bootstrap": BOOTSTRAP_NOTE,
            "rollout": "per size: fitted without its largest D, |ln L error| there; median over sizes",
            "held_out_D": {repr(n): d for n, d in choice.held_out_d.items()},
            "forms": {name: _rollout_dict(r) for name, r in choice.forms.items()},
            "surface": _rollout_dict(choice.surface)}


def _g(x) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3g}"


def curve_forms_md(entry: dict | None) -> list[str]:
    """A table: one row per form, its median and per-size rollout errors; which one was used."""
    if not entry or entry.get("status") == "skipped":
        return []
    sizes = list(entry["held_out_D"])
    lines = [f"\n## Scratch-curve forms (requested `{entry['requested']}`, used `{entry['chosen']}`)\n",
             "Each size's curve fitted without its largest D predicts the loss there: abs(ln error) per "
             "size and its median over sizes (lower is better; `auto` takes the lowest). "
             f"The bootstrap: {entry['bootstrap']}.\n",
             "| form | median abs(ln error) | " + " | ".join(f"N = {float(n):.3g}" for n in sizes) + " | note |",
             "|---|---|" + "---|" * len(sizes) + "---|"]
    rows = [(name, r) for name, r in entry["forms"].items()] + [("global surface", entry["surface"])]
    for name, r in rows:
        note = []
        if r.get("same_as"):
            note.append(f"same family as `{r['same_as']}` under this surface")
        if name == entry["chosen"]:
            note.append("used")
        if r["skipped"]:
            note.append(f"{len(r['skipped'])} size(s) skipped")
        lines.append(f"| {name} | {_g(r['median_abs_ln_error'])} | "
                     + " | ".join(_g(r["per_size"].get(n)) for n in sizes) + f" | {'; '.join(note)} |")
    return lines

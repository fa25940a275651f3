"""A YAML file of settings (a sweep config, a run preset) read into a mapping, with errors that name
the field, the file and the fix: not UTF-8, a syntax error with its line and column, not a mapping."""
from __future__ import annotations

from pathlib import Path

from transfer_laws.tasks.common.errors import InputError


def read_mapping(path: Path, field: str, mapping_fix: str) -> dict:
    """The mapping at the top of the YAML file `path` (which exists); `field` names it in errors."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(field, str(path), "is not UTF-8 text", "save the config as UTF-8 YAML") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(field, str(path), f"is not valid YAML ({where}{what})", "fix the YAML syntax") from None
    if not isinstance(values, dict):
        raise InputError(field, str(path), "is not a mapping of fields", mapping_fix)
    return values

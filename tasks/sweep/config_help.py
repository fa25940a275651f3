"""`transfer-laws run --help-config`: every field of a sweep config, generated from the pydantic models.

Generated, never written by hand, so the listing cannot drift from what `SweepConfig` accepts: each
group of settings, each field in it with its type, its default (or "required") and its description,
then each nested model a field holds (a source, a checkpoint, the lr search) in a section of its own.
"""
from __future__ import annotations

import textwrap
import types
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

WIDTH = 100


def _nested_models(annotation) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (Source in dict[str, Source], …), outermost first."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _nested_models(arg) if m not in found]
    return found


def _type_name(annotation) -> str:
    """A field's type as a user writes it in YAML: `float | 'kaplan'`, `list[int]`, `Source`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(info) -> str:
    if info.is_required():
        return "required"
    default = info.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        return "required"
    return "null" if default is None else repr(default)


def _first_sentence(doc: str) -> str:
    text = " ".join(doc.split())
    return text.split(". ")[0].rstrip(".") + "."


def describe_fields(model: type[BaseModel], title: str | None = None) -> str:
    """`model`'s fields (name, type, default, description), then the models its fields hold."""
    lines = [*textwrap.wrap(title or f"{model.__name__}: {_first_sentence(model.__doc__ or '')}", WIDTH), ""]
    nested: list[type[BaseModel]] = []
    for name, info in model.model_fields.items():
        lines.append(f"  {name}: {_type_name(info.annotation)}  [{_default(info)}]")
        lines += textwrap.wrap(info.description or "", WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6)
        nested += [m for m in _nested_models(info.annotation) if m not in nested and m is not model]
    text = "\n".join(lines)
    for sub in nested:
        text += "\n\n" + describe_fields(sub)
    return text


def sweep_config_help() -> str:
    """The listing `--help-config` prints: each group of the sweep config (a YAML mapping of its
    own), its fields, and every model they hold."""
    from transfer_laws.tasks.sweep.config import GROUPS, HASHED

    head = ("Sweep config fields, by group (each group is a YAML mapping: `experiment:`, then its keys "
            "indented; [default], or [required]). The " + " and ".join(HASHED) + " groups make the "
            "config hash, the sweep's identity; the others change how, where or how fast, never what.")
    sections = [describe_fields(model, f"{name}: {_first_sentence(model.__doc__ or '')}")
                for name, model in GROUPS.items()]
    return "\n\n".join(["\n".join(textwrap.wrap(head, WIDTH)), *sections])

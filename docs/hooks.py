"""mkdocs hook: the config and CLI references are generated from the code at build time, so neither
can drift. A page asks for one with a line `<!-- generated: config -->` or `<!-- generated: cli -->`."""

from __future__ import annotations

import argparse
import inspect
import re
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

MARK = re.compile(r"^<!-- generated: (config|cli) -->$", re.MULTILINE)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return MARK.sub(lambda m: config_reference() if m.group(1) == "config" else cli_reference(), markdown)


# ---- config: every section of StudyConfig, its keys, types, defaults, bounds and source comments


def _comments(cls: type) -> dict[str, str]:
    """`name: type = default  # comment` lines of a class body: the comment of each field."""
    out: dict[str, str] = {}
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return out
    for line in source.splitlines():
        m = re.match(r"^\s{4}(\w+): [^#]*?#\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type(a) for a in args if a is not type(None)) + " or null"
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (list, tuple):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, Path):
        value = str(value)
    return f"`{value!r}`" if value is not None else "`null`"


def _bounds(field: Any) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "length >=")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return ", ".join(parts)


def _section(cls: type[BaseModel], prefix: str, out: list[str], seen: set[type]) -> None:
    comments = _comments(cls)
    doc = inspect.getdoc(cls) or ""
    out.append(f"### `{prefix or 'top level'}`\n")
    if doc:
        out.append(doc.split("\n\n")[0].replace("\n", " ") + "\n")
    out.append("| key | type | default | bounds | what it is |\n|---|---|---|---|---|")
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in cls.model_fields.items():
        key = field.alias or name
        annotation = field.annotation
        sub = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if sub is None:
            for arg in typing.get_args(annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    sub = arg
        kind = _type(annotation) if sub is None else f"section ({sub.__name__})"
        if typing.get_origin(annotation) is list and sub is not None:
            kind = f"list of {sub.__name__}"
        comment = comments.get(name, "").replace("|", "\\|")
        out.append(f"| `{key}` | {kind} | {_default(field)} | {_bounds(field)} | {comment} |")
        if sub is not None and sub not in seen:
            seen.add(sub)
            nested.append((f"{prefix}.{key}" if prefix else key, sub))
    out.append("")
    for path, sub in nested:
        _section(sub, path, out, seen)


def config_reference() -> str:
    import miniature.characteristics  # noqa: F401 (registers the characteristics' sections)
    from miniature.config import study_config_class

    out: list[str] = []
    _section(study_config_class(), "", out, set())
    return "\n".join(out)


# ---- CLI: every verb, its usage and options, from the argument parser itself


def cli_reference() -> str:
    from miniature.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    out: list[str] = []
    for verb, p in sub.choices.items():
        out.append(f"### `miniature {verb}`\n\n{helps.get(verb, '')}\n")
        usage = p.format_usage().replace("usage: ", "").strip()
        out.append(f"```text\n{usage}\n```\n")
        out.append("| argument | what it is |\n|---|---|")
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = ", ".join(action.option_strings) or action.dest
            text = (action.help or "").replace("|", "\\|")
            if action.choices and not isinstance(action, argparse._SubParsersAction):
                text += f" (one of: {', '.join(map(str, action.choices))})"
            if action.required and action.option_strings:
                text += " (required)"
            out.append(f"| `{name}` | {text} |")
        out.append("")
    return "\n".join(out)

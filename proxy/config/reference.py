"""The config reference, generated from the pydantic models so that it cannot drift.

``darklaunch config-reference`` prints it; ``docs/config.md`` is its output, and a test fails
when the two differ.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from proxy.config.root import Config

__all__ = ["render_config_reference"]

_HEADER = """# Configuration reference

Generated from the pydantic models in `proxy/config/` by `darklaunch config-reference`;
a test keeps this file identical to the generator's output. Unknown keys are errors, and
`${VAR}` / `${VAR:-default}` in string values are expanded from the environment. A relative
`path` in a config file is resolved against that file's folder; a default one stays relative
to the working directory.
"""


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:  # a type with validators, such as ConfigPath
        return _type_name(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(json.dumps(arg) for arg in get_args(annotation))
    if origin is list:
        return f"list[{_type_name(get_args(annotation)[0])}]"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map[{_type_name(key)}, {_type_name(value)}]"
    if annotation is type(None):
        return "null"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return "section"
    name = getattr(annotation, "__name__", str(annotation))
    return {
        "str": "string",
        "int": "integer",
        "float": "number",
        "bool": "boolean",
        "Any": "any",
    }.get(name, {"Path": "path", "SecretStr": "string (secret)"}.get(name, name))


def _default(field: FieldInfo) -> str:
    """The default as a config file would spell it: JSON (which YAML reads), so a path shows
    as the string it is written as, not as ``PosixPath(...)``, and ``None`` as ``null``."""
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return ""
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "null"
    text = json.dumps(to_jsonable_python(value), ensure_ascii=False)
    return f"`{text}`".replace("|", "\\|")


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = get_args(annotation) or (annotation,)
    if get_origin(annotation) is list:
        candidates = get_args(annotation)
    for candidate in candidates:
        inner = get_args(candidate) or (candidate,)
        for item in inner:
            if inspect.isclass(item) and issubclass(item, BaseModel):
                return item
    return None


def _section(model: type[BaseModel], path: str, lines: list[str]) -> None:
    doc = inspect.cleandoc(model.__doc__ or "")
    title = path or "top level"
    lines.append(f"\n## `{title}`\n" if path else "\n## Top level\n")
    if doc:
        lines.append(doc.replace("``", "`") + "\n")
    lines.append("| key | type | default | meaning |")
    lines.append("| --- | --- | --- | --- |")
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        kind = _type_name(field.annotation).replace("|", "\\|")
        meaning = " ".join((field.description or "").split()).replace("|", "\\|")
        lines.append(f"| `{name}` | {kind} | {_default(field)} | {meaning} |")
        child = _nested_model(field.annotation)
        if child is not None:
            suffix = "[]" if get_origin(field.annotation) is list else ""
            nested.append((f"{path}.{name}{suffix}" if path else f"{name}{suffix}", child))
    for child_path, child in nested:
        _section(child, child_path, lines)


def render_config_reference() -> str:
    lines = [_HEADER]
    _section(Config, "", lines)
    return "\n".join(lines).rstrip() + "\n"

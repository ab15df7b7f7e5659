"""Readable astro.yaml problems.

For example ``pipelines[demo_s3].source.bukcet: unknown field; did you mean 'bucket'?``.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ValidationError


class PipelineConfigError(ValueError):
    """astro.yaml has problems; each names the pipeline and the field."""

    def __init__(self, path: Path | str, problems: Sequence[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{self.path}: {count} problem{'s' if count != 1 else ''}:\n{lines}")


def suggest(name: str, candidates: Sequence[str]) -> str:
    """``; did you mean 'x'?`` for the closest candidate, or an empty string."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def unknown_keys(prefix: str, keys: Sequence[str], allowed: Sequence[str]) -> list[str]:
    """A problem per key that is not in ``allowed``."""
    return [
        f"{prefix}.{key}: unknown field{suggest(str(key), allowed)}" for key in keys if key not in allowed
    ]


def _submodel(annotation: object, tag: object) -> type[BaseModel] | None:
    """The model behind a field annotation (through Optional/Annotated/discriminated unions)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _submodel(typing.get_args(annotation)[0], tag)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
        for member in members:
            kind = member.model_fields.get("kind")
            if kind is not None and tag in typing.get_args(kind.annotation):
                return member
        return members[0] if len(members) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _walk(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[list[str], type[BaseModel] | None]:
    """Readable path parts for ``loc`` (tags of discriminated unions dropped) and the model at its end."""
    parts: list[str] = []
    current: type[BaseModel] | None = model
    index = 0
    while index < len(loc):
        part = loc[index]
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            parts.extend(str(p) for p in loc[index:])
            return parts, None
        parts.append(part)
        annotation = current.model_fields[part].annotation
        next_part = loc[index + 1] if index + 1 < len(loc) else None
        nested = _submodel(annotation, next_part)
        if nested is not None and "kind" in nested.model_fields and next_part not in nested.model_fields:
            index += 1  # skip the discriminator tag pydantic inserts into the location
        current = nested
        index += 1
    return parts, current


def describe_validation_error(prefix: str, model: type[BaseModel], error: ValidationError) -> list[str]:
    """One line per pydantic error, located under ``prefix`` and with typo suggestions."""
    problems: list[str] = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        kind = item["type"]
        if kind == "extra_forbidden":
            parts, parent = _walk(model, loc[:-1])
            where = ".".join([prefix, *parts, str(loc[-1])])
            allowed = list(parent.model_fields) if parent is not None else []
            problems.append(f"{where}: unknown field{suggest(str(loc[-1]), allowed)}")
            continue
        parts, _ = _walk(model, loc)
        where = ".".join([prefix, *parts])
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "missing":
            message = "required field is missing"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            where = f"{where}.kind"
            tag = item.get("ctx", {}).get("tag")
            message = f"must be one of 's3', 'gcs', 'local'{f', got {tag!r}' if tag else ''}"
        problems.append(f"{where}: {message}")
    return problems

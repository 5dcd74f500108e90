"""Input validation for forms and JSON: types, ranges, lengths; unknown fields are refused.

Deliberately small: each field is a ``Field`` with a kind and limits; ``validate`` returns the
cleaned values or raises ``ValidationError`` naming the first bad field and why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from gis import dates
from gis.errors import ValidationError

__all__ = ["Field", "ValidationError", "check_text", "control_character", "validate"]


@dataclass(frozen=True)
class Field:
    kind: str = "str"  # str | int | float | bool | date | datetime | dict | list
    required: bool = True
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    min_length: int | None = None
    choices: tuple | None = None
    pattern: str | None = None
    default: Any = None


def _number(value: Any, field: str, kind: str):
    if isinstance(value, bool):
        raise ValidationError(field, f"expected {'an integer' if kind == 'int' else 'a number'}",
                              f"expected_{kind}")
    try:
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            field, f"expected {'an integer' if kind == 'int' else 'a number'}",
            f"expected_{kind}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError(field, "expected a finite number", "expected_float")
    return number


# C0 controls but tab, line feed and carriage return: no person types them, PostgreSQL refuses
# NUL in text, and they hide content in logs and exports.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character(value: str) -> bool:
    return _CONTROL.search(value) is not None


def check_text(name: str, value: str) -> None:
    """Refuse control characters in text a person or file gave."""
    if control_character(value):
        raise ValidationError(name, "contains a control character", "control_character")


def clean_text(name: str, value, limit: int, *, required: bool = False) -> str | None:
    """A free text a domain function was given: stripped; None when empty (a ValidationError
    when ``required``); refused with control characters or beyond ``limit`` characters."""
    value = "" if value is None else str(value).strip()
    if not value:
        if required:
            raise ValidationError(name, "required", "required")
        return None
    check_text(name, value)
    if len(value) > limit:
        raise ValidationError(name, f"at most {limit} characters", "max_length", n=limit)
    return value


def _one(name: str, spec: Field, value: Any, zone: str | None):
    kind = spec.kind
    if kind == "str":
        if not isinstance(value, str):
            raise ValidationError(name, "expected text", "expected_text")
        check_text(name, value)
        value = value.strip()
        if spec.min_length is not None and len(value) < spec.min_length:
            raise ValidationError(name, f"at least {spec.min_length} characters", "min_length",
                                  n=spec.min_length)
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValidationError(name, f"at most {spec.max_length} characters", "max_length",
                                  n=spec.max_length)
        if spec.pattern and not re.fullmatch(spec.pattern, value):
            raise ValidationError(name, "not in the expected form", "pattern")
    elif kind in ("int", "float"):
        value = _number(value, name, kind)
        if spec.min is not None and value < spec.min:
            raise ValidationError(name, f"must be at least {spec.min:g}", "min", n=f"{spec.min:g}")
        if spec.max is not None and value > spec.max:
            raise ValidationError(name, f"must be at most {spec.max:g}", "max", n=f"{spec.max:g}")
    elif kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "1", "on", "yes"):
            value = True
        elif isinstance(value, str) and value.lower() in ("false", "0", "off", "no", ""):
            value = False
        elif not isinstance(value, bool):
            raise ValidationError(name, "expected true or false", "expected_bool")
    elif kind == "date":
        value = dates.parse_date(value, name)
    elif kind == "datetime":
        if zone is None:  # pragma: no cover - a programming error, not input
            raise ValueError(f"{name}: validate() needs the bureau's zone for date-times")
        value = dates.parse_datetime(value, zone, name)
    elif kind == "dict":
        if not isinstance(value, dict):
            raise ValidationError(name, "expected an object", "expected_object")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValidationError(name, f"at most {spec.max_length} entries", "max_entries",
                                  n=spec.max_length)
    elif kind == "list":
        if not isinstance(value, list):
            raise ValidationError(name, "expected a list", "expected_list")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValidationError(name, f"at most {spec.max_length} entries", "max_entries",
                                  n=spec.max_length)
    else:  # pragma: no cover - a programming error, not input
        raise ValueError(f"unknown field kind {kind!r}")
    if spec.choices is not None and value not in spec.choices:
        choices = ", ".join(map(str, spec.choices))
        raise ValidationError(name, "one of " + choices, "choices", choices=choices)
    return value


# Fields every request may carry that belong to the transport, not to the form.
TRANSPORT_FIELDS = ("csrf_token", "lang")


def validate(data: Mapping[str, Any] | None, schema: Mapping[str, Field], *,
             ignore: tuple[str, ...] = TRANSPORT_FIELDS, zone: str | None = None
             ) -> dict[str, Any]:
    """Clean ``data`` against ``schema``; ``ignore`` names transport fields (csrf_token,
    lang); ``zone`` is the bureau's time zone, for date-times given without one."""
    if data is None or not isinstance(data, Mapping):
        raise ValidationError("body", "expected a JSON object", "expected_object")
    unknown = sorted(set(data) - set(schema) - set(ignore))
    if unknown:
        raise ValidationError(unknown[0], "unknown field", "unknown_field")
    out: dict[str, Any] = {}
    for name, spec in schema.items():
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip() and spec.kind != "str"):
            if spec.required:
                raise ValidationError(name, "required", "required")
            out[name] = spec.default
            continue
        if isinstance(value, str) and not value.strip() and spec.required:
            raise ValidationError(name, "required", "required")
        out[name] = _one(name, spec, value, zone)
    return out

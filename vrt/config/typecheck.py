"""Check plain YAML values against Python type annotations, naming the key path on failure.

YAML gives us ints, floats, strings, bools, None, lists and dicts. Builders and config dataclasses
are annotated with the same simple vocabulary, so a small checker is enough and keeps error
messages in our own words (``model.head.bits: expected int, got '48x' (str)``).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from vrt.errors import VrtError


class ConfigError(VrtError, ValueError):
    """A configuration problem, located by file and key path."""

    def __init__(self, message: str, *, source: str | None = None, key_path: str | None = None):
        self.source = source
        self.key_path = key_path
        self.detail = message
        location = ": ".join(part for part in (source, key_path) if part)
        super().__init__(f"{location}: {message}" if location else message)


# Exponent notation without a dot (``1e-4``, ``3E5``), which YAML 1.1 does not resolve to a float.
_YAML11_EXPONENT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def describe_type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, dict):
        args = ", ".join(describe_type(a) for a in typing.get_args(annotation) if a is not Ellipsis)
        return f"{origin.__name__}[{args}]" if args else origin.__name__
    return getattr(annotation, "__name__", str(annotation))


def check_value(value: Any, annotation: Any, key_path: str) -> Any:
    """Return ``value`` converted to ``annotation`` where that is lossless, else raise ConfigError.

    The only conversions are the ones YAML makes necessary: an int where a float is expected,
    a list where a tuple is expected, a string where a Path is expected.
    """
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return check_value(value, option, key_path)
            except ConfigError:
                continue
        raise _mismatch(value, annotation, key_path)
    if annotation is type(None):
        if value is None:
            return None
        raise _mismatch(value, annotation, key_path)
    if origin is Literal:
        if value in args and not (isinstance(value, bool) and not any(isinstance(a, bool) for a in args)):
            return value
        raise _mismatch(value, annotation, key_path)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _mismatch(value, annotation, key_path)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _mismatch(value, annotation, key_path)
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _YAML11_EXPONENT.fullmatch(value.strip()):
            # YAML 1.1 (PyYAML) reads `1e-4` as a string: it wants `1.0e-4`. A float is expected
            # here and the text is one, so take it rather than fail on a notation detail.
            return float(value)
        raise _mismatch(value, annotation, key_path)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _mismatch(value, annotation, key_path)
    if annotation is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise _mismatch(value, annotation, key_path)
    if origin is list or annotation is list:
        if not isinstance(value, (list, tuple)):
            raise _mismatch(value, annotation, key_path)
        item = args[0] if args else Any
        return [check_value(v, item, f"{key_path}[{i}]") for i, v in enumerate(value)]
    if origin is tuple or annotation is tuple:
        if not isinstance(value, (list, tuple)):
            raise _mismatch(value, annotation, key_path)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_value(v, args[0], f"{key_path}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(
                f"expected {len(args)} items ({describe_type(annotation)}), got {len(value)}",
                key_path=key_path,
            )
        item_types = args or (Any,) * len(value)
        return tuple(
            check_value(v, t, f"{key_path}[{i}]")
            for i, (v, t) in enumerate(zip(value, item_types, strict=True))
        )
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise _mismatch(value, annotation, key_path)
        key_type, value_type = args if args else (Any, Any)
        return {
            check_value(k, key_type, key_path): check_value(v, value_type, f"{key_path}.{k}")
            for k, v in value.items()
        }
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        raise _mismatch(value, annotation, key_path)
    # An annotation we do not understand (a protocol, a callable type): accept rather than guess.
    return value


def _mismatch(value: Any, annotation: Any, key_path: str) -> ConfigError:
    return ConfigError(
        f"expected {describe_type(annotation)}, got {value!r} ({type(value).__name__})", key_path=key_path
    )

"""Typed dataclass configs: YAML in, dotted overrides, strict keys, YAML out.

A config is a tree of dataclasses. :func:`from_dict` builds one from plain
data and rejects unknown keys (naming the key, the file and the closest valid
key), missing required fields and values of the wrong type. :func:`apply_overrides`
applies command-line overrides such as ``train.lr=3e-4``. :func:`save` writes
the resolved config next to a run, so every run records exactly what it used.

Example::

    @dataclass
    class Train:
        lr: float = 3e-4
        steps: int = 1000

    @dataclass
    class Run:
        name: str              # required: no silent default
        train: Train = field(default_factory=Train)

    cfg = load(Run, "recipe.yaml", ["train.lr=1e-3"])
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from babybench.errors import BabybenchError
from babybench.io import atomic_write_text
from babybench.registry import suggest

C = TypeVar("C")


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check (and gently convert) ``value`` against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except BabybenchError as e:
                errors.append(str(e))
        raise BabybenchError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise BabybenchError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise BabybenchError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise BabybenchError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise BabybenchError(f"{where}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML reads "3e-4" as a string; accept numeric strings.
            try:
                return float(value)
            except (TypeError, ValueError):
                raise BabybenchError(f"{where}: expected a number, got {value!r}") from None
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise BabybenchError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise BabybenchError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise BabybenchError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[C], data: dict[str, Any], where: str = "config") -> C:
    """Build the dataclass ``cls`` from ``data``, strictly.

    Raises:
        BabybenchError: on an unknown key (with the closest valid key), a
            missing required field, or a value of the wrong type.
    """
    if not isinstance(data, dict):
        raise BabybenchError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise BabybenchError(
                f"{where}: unknown key '{key}'{suggest(key, list(fields))}; "
                f"valid keys: {', '.join(fields)}"
            )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BabybenchError(f"{where}: missing required key '{name}'")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # __post_init__ validation
        if isinstance(e, BabybenchError):
            raise
        raise BabybenchError(f"{where}: {e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain data (lists, dicts, scalars), ready for YAML or JSON."""
    return dataclasses.asdict(cfg)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["train.lr=3e-4", "seed=1"]`` into a nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise BabybenchError(f"override '{item}' must look like key.sub=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise BabybenchError(f"override '{item}': '{p}' is not a section")
        node[parts[-1]] = value
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` into a copy of ``base``."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a one-line error for a missing or malformed file."""
    p = Path(path)
    if not p.is_file():
        raise BabybenchError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        raise BabybenchError(f"{p}{at}: malformed YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BabybenchError(f"{p}: expected a YAML mapping at the top level")
    return data


def load(cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None,
         base: dict[str, Any] | None = None) -> C:
    """Load ``cls`` from an optional YAML file, a base dict and dotted overrides."""
    data = dict(base or {})
    where = "config"
    if path is not None:
        data = merge(data, read_yaml(path))
        where = str(path)
    if overrides:
        data = merge(data, parse_overrides(overrides))
    return from_dict(cls, data, where)


def save(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))

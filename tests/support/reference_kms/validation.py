"""Server-side shape validation driven by botocore's KMS service model.

Real AWS validates every request against the service model before any business logic and answers
``ValidationException`` with a "N validation error(s) detected: ..." message. Loading the limits from botocore
keeps the reference in step with the model the suite's clients use.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape


@cache
def service_model() -> ServiceModel:
    """The KMS service model shipped with the installed botocore."""
    return botocore.session.get_session().get_service_model("kms")


@cache
def _partition_regions() -> dict[str, tuple[str, ...]]:
    session = botocore.session.Session()
    return {
        p: tuple(session.get_available_regions("kms", partition_name=p))
        for p in session.get_available_partitions()
    }


def partition_of(region: str) -> str | None:
    """The partition holding ``region`` among botocore's KMS Regions, or None if the Region is unknown."""
    for partition, regions in _partition_regions().items():
        if region in regions:
            return partition
    return None


def known_partitions() -> tuple[str, ...]:
    """Every partition botocore knows."""
    return tuple(_partition_regions())


def operation_model(name: str) -> OperationModel | None:
    """The operation model, or None for an operation KMS does not have."""
    model = service_model()
    if name not in model.operation_names:
        return None
    return model.operation_model(name)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, value: Any, path: str, constraint: str) -> None:
        self.errors.append(f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: {constraint}")


def _check(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            out.add(value, path, "Member must be a structure")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                out.errors.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _join(path, name), out)
    elif kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            out.add(value, path, "Member must be a list")
            return
        _check_size(len(value), meta, value, path, out)
        for i, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{i}.member", out)
    elif kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            out.add(value, path, "Member must be a map")
            return
        for k, v in value.items():
            _check(shape.key, k, f"{path}.{k}.key", out)
            _check(shape.value, v, f"{path}.{k}.value", out)
    elif kind == "string":
        if not isinstance(value, str):
            out.add(value, path, "Member must be a string")
            return
        enum = meta.get("enum")
        if enum and value not in enum:
            out.add(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
            return
        _check_size(len(value), meta, value, path, out)
        pattern = meta.get("pattern")
        if pattern and value and re.fullmatch(pattern, value, flags=re.ASCII | re.DOTALL) is None:
            out.add(value, path, f"Member must satisfy regular expression pattern: {pattern}")
    elif kind == "blob":
        if not isinstance(value, str):
            out.add(value, path, "Member must be a blob")
            return
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            out.add("<blob>", path, "Member must be base64-encoded")
            return
        _check_size(len(raw), meta, "java.nio.HeapByteBuffer", path, out)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            out.add(value, path, "Member must be an integer")
            return
        if "min" in meta and value < meta["min"]:
            out.add(value, path, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            out.add(value, path, f"Member must have value less than or equal to {meta['max']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            out.add(value, path, "Member must be a boolean")
    elif kind == "timestamp" and not isinstance(value, int | float):
        out.add(value, path, "Member must be a timestamp")


def _join(path: str, name: str) -> str:
    return f"{path}.{_camel(name)}" if path else _camel(name)


def _check_size(size: int, meta: dict[str, Any], value: Any, path: str, out: _Collector) -> None:
    if "min" in meta and size < meta["min"]:
        out.add(value, path, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        out.add(value, path, f"Member must have length less than or equal to {meta['max']}")


def validate_input(
    op: OperationModel, body: dict[str, Any], ignore: Callable[[str], bool] | None = None
) -> str | None:
    """Return the ValidationException message for ``body``, or None when it fits the input shape.

    ``ignore`` drops individual constraint violations (used by seeded faults that skip one constraint).
    """
    shape = op.input_shape
    if shape is None:
        return None
    out = _Collector()
    _check(shape, body, "", out)
    if ignore is not None:
        out.errors = [e for e in out.errors if not ignore(e)]
    if not out.errors:
        return None
    n = len(out.errors)
    noun = "error" if n == 1 else "errors"
    return f"{n} validation {noun} detected: " + "; ".join(out.errors)

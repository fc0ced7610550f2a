"""The value checks of site files: each key's type, range and meaning, with the file and the key in
every error. A `Spec` checks one value and returns it in the form the site uses."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from gridtap.channels import namespace_of_kind
from gridtap.errors import ChannelError, GridtapError

__all__ = ["Checker", "SiteError", "Spec"]


class SiteError(GridtapError, ValueError):
    """A site file that cannot be used: names the file, the key and the reason."""


Spec = Callable[["Checker", str, Any], Any]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Checker:
    """Checks for one site file; `key` arguments are dotted paths such as `meter[0].port`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.folder = Path(source).resolve().parent

    def fail(self, key: str, reason: str) -> SiteError:
        return SiteError(f"{self.source}: {key}: {reason}" if key else f"{self.source}: {reason}")

    def table(
        self,
        data: Any,
        where: str,
        required: Mapping[str, Spec],
        optional: Mapping[str, Spec],
    ) -> dict[str, Any]:
        """A table with exactly these keys (required ones present), each value checked."""
        if not isinstance(data, Mapping):
            raise self.fail(where, f"expected a table, got {data!r}")
        for k in data:
            if k not in required and k not in optional:
                allowed = ", ".join(sorted({*required, *optional}))
                raise self.fail(f"{where}.{k}", f"unknown key; expected one of {allowed}")
        for k in required:
            if k not in data:
                raise self.fail(f"{where}.{k}", "missing")
        return {k: (required.get(k) or optional[k])(self, f"{where}.{k}", v) for k, v in data.items()}

    def namespace(self, key: str, ns: str, kind: str) -> str:
        try:
            return namespace_of_kind(ns, kind)
        except ChannelError as e:
            raise self.fail(key, str(e)) from None

    def path(self, key: str, value: str) -> Path:
        """A path in the site file: relative ones are relative to the site file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.folder / p

    def existing_file(self, key: str, value: str) -> str:
        p = self.path(key, value)
        if not p.is_file():
            raise self.fail(key, f"no such file: {p}" if not p.exists() else f"not a file: {p}")
        return str(p)

    def build(self, key: str, make: Callable[[], Any], names: Iterable[str] = ()) -> Any:
        """Build an object from checked values; its refusal becomes a SiteError naming `key`, or
        `key.<name>` for the first of `names` (dotted keys below `key`) whose last part the message
        mentions: constructors name the argument they refuse."""
        try:
            return make()
        except (GridtapError, ValueError, TypeError) as e:
            if isinstance(e, SiteError):
                raise
            msg = str(e)
            named = next(
                (n for n in names if re.search(rf"\b{re.escape(n.rsplit('.', 1)[-1])}\b", msg)), None
            )
            raise self.fail(f"{key}.{named}" if named else key, msg) from None


# --- specs ----------------------------------------------------------------------------------------


def text(c: Checker, key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise c.fail(key, f"expected a string, got {v!r}")
    if not v.strip():
        raise c.fail(key, f"expected a non-empty string, got {v!r}")
    return v


def flag(c: Checker, key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise c.fail(key, f"expected true or false, got {v!r}")
    return v


def table(c: Checker, key: str, v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise c.fail(key, f"expected a table, got {v!r}")
    return dict(v)


def tables(c: Checker, key: str, v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise c.fail(key, f"expected a list of tables ([[{key}]]), got {v!r}")
    return v


def number(lo: float = -math.inf, hi: float = math.inf, *, above: bool = False, inf: bool = False) -> Spec:
    """A finite number in [lo, hi] (or > lo with `above`); `inf` also allows +inf."""

    def check(c: Checker, key: str, v: Any) -> float:
        if not _is_number(v):
            raise c.fail(key, f"expected a number, got {v!r}")
        x = float(v)
        ok = (math.isfinite(x) or (inf and x == math.inf)) and (x > lo if above else x >= lo) and x <= hi
        if not ok:
            low = f"> {lo:g}" if above else f">= {lo:g}"
            rng = low if hi == math.inf else f"{low} and <= {hi:g}"
            raise c.fail(key, f"expected a {'' if inf else 'finite '}number {rng}, got {x}")
        return x

    return check


def integer(lo: int, hi: int) -> Spec:
    def check(c: Checker, key: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise c.fail(key, f"expected an integer {lo}..{hi}, got {v!r}")
        return v

    return check


def choice(*options: Any) -> Spec:
    def check(c: Checker, key: str, v: Any) -> Any:
        if v not in options or isinstance(v, bool) != isinstance(options[0], bool):
            raise c.fail(key, f"expected one of {', '.join(map(repr, options))}, got {v!r}")
        return v

    return check


def list_of(item: Spec, lengths: tuple[int, ...] | None = None) -> Spec:
    def check(c: Checker, key: str, v: Any) -> list[Any]:
        if not isinstance(v, list):
            raise c.fail(key, f"expected a list, got {v!r}")
        if lengths is not None and len(v) not in lengths:
            want = " or ".join(map(str, lengths))
            raise c.fail(key, f"expected {want} values, got {len(v)}")
        return [item(c, f"{key}[{i}]", x) for i, x in enumerate(v)]

    return check


SECONDS = number(0.0, above=True)  # intervals, timeouts, ages: finite and > 0
PORT = integer(1, 65535)
UNIT_ID = integer(1, 247)  # the Modbus serial-line address range


def by_annotation(annotation: Any) -> Spec | None:
    """A spec for a constructor parameter from its type hint, for the plain types a TOML value can
    be (numbers, whole numbers, flags, strings; optionally None-able, which TOML cannot write). None
    for anything else: the constructor checks those itself."""
    args = getattr(annotation, "__args__", None)
    kinds = set(args) - {type(None)} if args else {annotation}
    if kinds == {float} or kinds == {float, int}:
        return number()
    if kinds == {int}:
        return integer(-(2**63), 2**63 - 1)
    if kinds == {bool}:
        return flag
    if kinds == {str}:
        return text
    return None

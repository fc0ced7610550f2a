"""The channels of one kind of write, checked once and remembered.

Adapters write the same channels of the same namespace on every poll. The first write of a set of
channel names checks the names against the catalogue and keeps what every later write needs (full
names, units, physical limits, counters) in a `ChannelSet`, so the write itself only checks values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

from gridtap._core import WriteLayout
from gridtap.channels import catalogue_for, channel_spec
from gridtap.dal.reading import Quality
from gridtap.errors import ChannelError, InvalidValueError, ValueTypeError

__all__ = ["ChannelSet"]

_GOOD = Quality.GOOD
_ERROR = Quality.ERROR


class ChannelSet:
    """Validated channels of one namespace, in the order a write gives them."""

    __slots__ = (
        "all_good",
        "bare",
        "counters",
        "descriptions",
        "index",
        "layout",
        "lowest",
        "minima",
        "names",
        "namespace",
        "pick_minimum",
        "size",
        "stamp",
        "units",
    )

    def __init__(self, namespace: str, bare: Iterable[object]) -> None:
        catalogue_for(namespace)  # the namespace is named in the error, even for an empty write
        bare = tuple(bare)
        names: list[str] = []
        units: list[str] = []
        descriptions: list[str] = []
        minima: list[tuple[int, float]] = []
        counters: list[tuple[int, str]] = []
        for i, name in enumerate(bare):
            channel = f"{namespace}/{name}"
            spec = channel_spec(channel)
            if spec.name == "Timestamp":
                raise ChannelError(
                    f"{channel} is added by the DAL from the readings' timestamps; it is not written"
                )
            names.append(channel)
            units.append(spec.unit)
            descriptions.append(spec.description)
            if spec.minimum is not None:
                minima.append((i, spec.minimum))
            if spec.monotonic:
                counters.append((i, channel))
        self.namespace = namespace
        self.bare = tuple(str(n) for n in bare)
        self.names = tuple(names)
        self.size = len(names)
        self.index = {c: i for i, c in enumerate(names)}
        self.all_good = (_GOOD,) * len(names)
        self.units = tuple(units)
        self.descriptions = tuple(descriptions)
        self.stamp = f"{namespace}/Timestamp"
        self.minima = tuple(minima)
        self.counters = tuple(counters)
        # the values the physical minima apply to, as one tuple (itemgetter of one index is a scalar)
        idx = [i for i, _ in minima]
        self.pick_minimum: Callable[[Sequence[Any]], tuple[Any, ...]]
        if len(idx) > 1:
            self.pick_minimum = itemgetter(*idx)
        elif idx:
            only = idx[0]
            self.pick_minimum = lambda vs: (vs[only],)
        else:
            self.pick_minimum = lambda vs: ()
        self.layout = WriteLayout(self.bare, minima)
        # every catalogue minimum is 0 today: one `min` then checks them all
        lows = {lo for _, lo in minima}
        self.lowest = lows.pop() if len(lows) == 1 else None

    def fast_values_ok(self, values: Sequence[object]) -> bool:
        """Whether GOOD `values` are all finite floats within their physical minima: the common
        case, decided without a loop in Python. False sends the write to `checked_values`."""
        if not _FLOAT_ONLY.issuperset(map(type, values)):
            return False
        if not math.isfinite(sum(values)):  # type: ignore[arg-type]
            return False
        if self.minima:
            if self.lowest is not None:
                return bool(min(self.pick_minimum(values)) >= self.lowest)
            return all(values[i] >= lo for i, lo in self.minima)  # type: ignore[operator]
        return True

    def checked_values(
        self, values: Sequence[object], quality: object
    ) -> tuple[list[float | None], list[Quality]]:
        """Every value checked, with an error naming the first bad channel; None (or quality
        ERROR) gives an ERROR reading without value."""
        if not isinstance(quality, Quality):
            what = self.names[0] if self.names else self.namespace
            raise ValueTypeError(f"{what}: quality must be a gridtap.Quality, got {quality!r}")
        out: list[float | None] = []
        qualities: list[Quality] = []
        for channel, unit, value in zip(self.names, self.units, values, strict=True):
            if value is None or quality is _ERROR:
                out.append(None)
                qualities.append(_ERROR)
                continue
            if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
                raise ValueTypeError(
                    f"{channel}: value must be a real number in {unit or '1'}, got {value!r}"
                )
            v = float(value)
            if not math.isfinite(v):
                raise InvalidValueError(
                    f"{channel}: {v} is not a valid {quality} value; write None (quality ERROR) for no value"
                )
            out.append(v)
            qualities.append(quality)
        for i, lowest in self.minima:
            checked = out[i]
            if checked is not None and checked < lowest:
                raise self.below_minimum(i, checked, lowest)
        return out, qualities

    def below_minimum(self, i: int, value: float, lowest: float) -> InvalidValueError:
        unit = f" {self.units[i]}" if self.units[i] else ""
        return InvalidValueError(
            f"{self.names[i]}: {value:g}{unit} cannot be physical: expected >= {lowest:g} "
            f"({self.descriptions[i].rstrip('.')})"
        )


_FLOAT_ONLY = frozenset({float})

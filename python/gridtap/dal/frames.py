"""A batch of frames for the DAL: what `MeterPipeline.push_many` returns, checked as a whole.

The DAL keeps the latest value per channel, so a batch comes down to one write: each channel's
value in the last frame, at the last timestamp. Every frame is still checked as `write_many`
would check it, so that writing a batch and writing its frames one by one end in the same state
and refuse the same input: timestamps finite and in order, values NaN (no valid value) or finite
and within their physical limits, counters never decreasing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridtap.dal.channelset import ChannelSet
from gridtap.dal.reading import Quality
from gridtap.errors import InvalidValueError, TimestampError, ValueTypeError

__all__ = ["Batch", "check_batch"]


@dataclass(frozen=True, slots=True)
class Batch:
    first_ts: float
    last_ts: float
    values: tuple[float | None, ...]  # the last frame's, None for NaN
    # counter index in the channel set → (first, last) valid value in the batch
    counters: dict[int, tuple[float, float]]


def float_array(obj: object, what: str) -> np.ndarray:
    if type(obj) is np.ndarray and obj.dtype == np.float64:
        return obj
    try:
        arr = np.asarray(obj)
    except Exception as e:
        raise ValueTypeError(f"{what}: expected an array of numbers, got {type(obj).__name__}") from e
    if arr.dtype.kind not in "fiu":
        raise ValueTypeError(f"{what}: expected an array of numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


_LOWS: dict[ChannelSet, np.ndarray] = {}


def _lows(cs: ChannelSet) -> np.ndarray:
    """Each channel's physical minimum as a column (−inf where it has none), for one comparison
    with the whole block."""
    lows = _LOWS.get(cs)
    if lows is None:
        lows = np.full((cs.size, 1), -np.inf)
        for i, lo in cs.minima:
            lows[i, 0] = lo
        if len(_LOWS) < 10_000:
            _LOWS[cs] = lows
    return lows


def check_batch(
    cs: ChannelSet, timestamps: object, columns: Mapping[str, Any], quality: Quality
) -> Batch | None:
    """The batch as one write, or an error naming the channel (or timestamp) and the frame.
    None for an empty batch."""
    namespace = cs.namespace
    ts = float_array(timestamps, f"{namespace}: timestamps")
    if ts.ndim != 1:
        raise ValueTypeError(f"{namespace}: timestamps must be one-dimensional, got shape {ts.shape}")
    n = len(ts)
    finite = np.isfinite(ts)
    if not finite.all():
        i = int(np.argmin(finite))
        raise TimestampError(
            f"{namespace}: timestamps[{i}] is {ts[i]}, expected finite seconds since the Unix epoch"
        )
    back = ts[1:] < ts[:-1]
    if back.any():
        i = int(np.argmax(back)) + 1
        raise TimestampError(
            f"{namespace}: timestamps[{i}] ({ts[i]}) is before timestamps[{i - 1}] ({ts[i - 1]}); "
            "frames must come in time order"
        )
    arrays = [float_array(col, name) for name, col in zip(cs.names, columns.values(), strict=True)]
    for name, col in zip(cs.names, arrays, strict=True):
        if col.shape != (n,):
            raise ValueTypeError(f"{name}: {col.shape} values for {n} timestamps, expected ({n},)")
    if n == 0:
        return None
    first_ts, last_ts = float(ts[0]), float(ts[-1])
    if quality is Quality.ERROR or not arrays:
        return Batch(first_ts, last_ts, (None,) * len(arrays), {})
    # one block, channels × frames: a few numpy calls for the whole batch
    block = np.stack(arrays)
    infinite = np.isinf(block)
    if infinite.any():
        r, j = np.argwhere(infinite)[0]
        raise InvalidValueError(
            f"{cs.names[r]}: frame {j} is {block[r, j]}, not a valid value; NaN means no valid value"
        )
    if cs.minima:
        lows = _lows(cs)
        below = block < lows
        if below.any():
            i, j = np.argwhere(below)[0]
            raise cs.below_minimum(int(i), float(block[i, j]), float(lows[i, 0]))
    counters: dict[int, tuple[float, float]] = {}
    for i, channel in cs.counters:
        col = block[i]
        valid = col[~np.isnan(col)]
        if len(valid) == 0:
            continue
        drops = valid[1:] < valid[:-1]
        if drops.any():
            j = int(np.argmax(drops))
            raise InvalidValueError(
                f"{channel}: energy counter decreases within the batch, from {valid[j]:.12g} to "
                f"{valid[j + 1]:.12g} {cs.units[i]}; a counter never decreases"
            )
        counters[i] = (float(valid[0]), float(valid[-1]))
    values = tuple(None if math.isnan(v) else v for v in block[:, -1].tolist())
    return Batch(first_ts, last_ts, values, counters)

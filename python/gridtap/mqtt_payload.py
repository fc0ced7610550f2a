"""The MQTT telemetry payload: one reading as JSON, `{"value": 1234.5, "unit": "W", "timestamp":
1767225600.25, "quality": "GOOD"}` (`"value": null` for an ERROR reading), and back for consumers."""

from __future__ import annotations

import json

from gridtap.dal import Quality, Reading
from gridtap.errors import InvalidValueError

__all__ = ["decode_reading", "encode_reading"]


def encode_reading(reading: Reading) -> bytes:
    """The JSON payload of one reading: value (null without one), unit, timestamp, quality."""
    return json.dumps(
        {
            "value": reading.value,
            "unit": reading.unit,
            "timestamp": reading.timestamp,
            "quality": reading.quality.value,
        },
        allow_nan=False,
    ).encode()


def decode_reading(payload: bytes | str) -> Reading:
    """The inverse of `encode_reading`, for consumers; raises InvalidValueError on anything else."""
    try:
        d = json.loads(payload)
        value, unit, timestamp = d["value"], d["unit"], d["timestamp"]
        quality = Quality(d["quality"])
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidValueError(
            f"not a gridtap telemetry payload ({e}): expected JSON with value, unit, timestamp, quality; "
            f"got {payload!r:.200}"
        ) from None
    if (value is not None and not isinstance(value, int | float)) or not isinstance(timestamp, int | float):
        raise InvalidValueError(
            f"gridtap telemetry payload with non-numeric value or timestamp: {payload!r:.200}"
        )
    return Reading(None if value is None else float(value), str(unit), float(timestamp), quality)

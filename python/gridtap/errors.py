"""gridtap's exceptions: a small hierarchy parented on the built-ins a caller already catches."""

from __future__ import annotations

from gridtap._core import InputError, InternalError

__all__ = [
    "ChannelError",
    "FutureTimestampError",
    "GridtapError",
    "InputError",
    "InternalError",
    "InvalidValueError",
    "ProfileError",
    "TimestampError",
    "ValueTypeError",
]


class GridtapError(Exception):
    """Base of the errors raised by gridtap's Python layer."""


class ChannelError(GridtapError, ValueError):
    """An unknown channel or namespace name."""


class InvalidValueError(GridtapError, ValueError):
    """A value the DAL refuses: NaN/Inf written as GOOD, a non-finite timestamp, ..."""


class TimestampError(InvalidValueError):
    """A timestamp that is not finite or goes backwards."""


class FutureTimestampError(TimestampError):
    """A timestamp further ahead of the DAL's clock than the tolerance (`max_future`) allows.

    A source with a clock of its own (a PMU's GPS time) catches it to report the offset between
    its clock and the local one: `ahead` = timestamp − clock (s), and the `channel`, `timestamp`,
    `clock` and `max_future` that were compared.
    """

    def __init__(
        self, message: str, *, channel: str, timestamp: float, clock: float, max_future: float
    ) -> None:
        super().__init__(message)
        self.channel = channel
        self.timestamp = timestamp
        self.clock = clock
        self.max_future = max_future

    @property
    def ahead(self) -> float:
        return self.timestamp - self.clock


class ValueTypeError(GridtapError, TypeError):
    """A value of the wrong type (a string or bool where a number was expected)."""


class ProfileError(GridtapError, ValueError):
    """A device profile that cannot be loaded: names the file, the key and the reason."""

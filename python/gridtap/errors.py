"""gridtap's exceptions: a small hierarchy parented on the built-ins a caller already catches."""

from __future__ import annotations

from gridtap._core import InputError, InternalError

__all__ = [
    "ChannelError",
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


class ValueTypeError(GridtapError, TypeError):
    """A value of the wrong type (a string or bool where a number was expected)."""


class ProfileError(GridtapError, ValueError):
    """A device profile that cannot be loaded: names the file, the key and the reason."""

"""Argument types for the command line: each refuses a bad value with a message naming what was
expected (argparse adds the option's name)."""

from __future__ import annotations

import argparse
import math


def _int(text: str, lo: int, hi: int, what: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what} ({lo}..{hi}), got {text!r}") from None
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"expected {what} ({lo}..{hi}), got {v}")
    return v


def port(text: str) -> int:
    return _int(text, 1, 65535, "a TCP port")


def idcode(text: str) -> int:
    return _int(text, 1, 65534, "a C37.118 stream IDCODE")


def unit_id(text: str) -> int:
    return _int(text, 1, 247, "a Modbus unit id")


def positive_int(text: str) -> int:
    return _int(text, 1, 2**31 - 1, "a whole number > 0")


def seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (a number > 0), got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected seconds (a finite number > 0), got {text}")
    return v


def duration(text: str) -> float:
    """Seconds to run: a finite number >= 0 (0: until Ctrl-C)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (a number >= 0), got {text!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(
            f"expected seconds (a finite number >= 0; 0: until Ctrl-C), got {text}"
        )
    return v


def number(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return v


def positive(text: str) -> float:
    v = number(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return v

"""The `gridtap` command line. Each command lives in a module of its own that registers its
sub-parser: catalog (channels, profiles), meter (read, scan), pmu, demo, run.

Every command takes `--log-level`. A user error (a bad argument, a missing or bad file, an unknown
profile, an unreachable device) is one line on stderr naming the thing and a non-zero exit, never a
traceback: 2 for what was asked (arguments, files), 1 for what happened (a device that does not
answer). An unexpected error is one line too; `--log-level debug` shows its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from gridtap.cli import catalog, demo, meter, pmu, run
from gridtap.cli.demo import render
from gridtap.errors import GridtapError

__all__ = ["build_parser", "main", "render"]

# in the order `gridtap --help` lists them
_COMMANDS = (catalog, meter, pmu, demo, run)
LOG_LEVELS = ("debug", "info", "warning", "error")

log = logging.getLogger("gridtap.cli")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage is for --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _add_log_level(p: argparse.ArgumentParser, default: Any) -> None:
    p.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=default,
        help="how much to log on stderr (default: info for run, warning otherwise)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gridtap", description="grid/site meter layer for energy management systems")
    _add_log_level(p, None)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in _COMMANDS:
        module.register(sub)
    for command in sub.choices.values():
        # SUPPRESS: not given after the command, the value given before it (or None) stays
        _add_log_level(command, argparse.SUPPRESS)
    return p


def _configure_logging(level: str, *, handler: bool) -> dict[str, int]:
    """Log gridtap's messages at `level` (to stderr, with `handler`). pymodbus reports each failure
    that gridtap reports itself, so it speaks only at debug. Returns the levels it replaced
    (restored after the command, so that calling main() in-process leaves logging as it was)."""
    if handler:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    loggers = {"gridtap": level.upper(), "pymodbus": "DEBUG" if level == "debug" else "CRITICAL"}
    before = {name: logging.getLogger(name).level for name in loggers}
    for name, lvl in loggers.items():
        logging.getLogger(name).setLevel(lvl)
    return before


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.log_level = args.log_level or getattr(args, "default_log_level", "warning")
    # a command with logging of its own (run: the live table, journald) gets the level only
    before = _configure_logging(args.log_level, handler=not getattr(args, "own_logging", False))
    name = f"gridtap {args.command}"
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except GridtapError as e:  # a bad file, profile, argument value: what the user asked for
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        log.debug("traceback", exc_info=True)
        print(f"{name}: {type(e).__name__}: {e} (--log-level debug shows where)", file=sys.stderr)
        return 1
    finally:
        for logger, lvl in before.items():
            logging.getLogger(logger).setLevel(lvl)

"""The `gridtap` command line. Each command lives in a module of its own that registers its
sub-parser: catalog (channels, profiles), meter (read, scan), demo, run."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gridtap.cli import catalog, demo, meter, run
from gridtap.cli.demo import render

__all__ = ["build_parser", "main", "render"]

# in the order `gridtap --help` lists them
_COMMANDS = (catalog, meter, demo, run)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridtap", description="grid/site meter layer for energy management systems"
    )
    sub = p.add_subparsers(dest="command", required=True)
    for module in _COMMANDS:
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0

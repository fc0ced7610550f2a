"""The `gridtap` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gridtap.channels import DEVICE_CATALOGUES


def _cmd_channels(args: argparse.Namespace) -> int:
    kinds = [args.namespace] if args.namespace else list(DEVICE_CATALOGUES)
    for kind in kinds:
        cat = DEVICE_CATALOGUES[kind]
        print(f"{kind}/ ({len(cat)} channels)")
        print(f"  {'channel':<24} {'unit':<6} {'phase':<5} {'opt':<3} description")
        for c in cat:
            print(
                f"  {c.name:<24} {c.unit or '-':<6} {c.phase or '-':<5} {'yes' if c.optional else '':<3} {c.description}"
            )
        print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridtap", description="grid/site meter layer for energy management systems"
    )
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("channels", help="print the channel catalogue")
    c.add_argument("namespace", nargs="?", choices=sorted(DEVICE_CATALOGUES), help="one catalogue only")
    c.set_defaults(func=_cmd_channels)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

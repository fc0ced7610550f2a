"""`gridtap channels` and `gridtap profiles`: the channel catalogue and the bundled profiles."""

from __future__ import annotations

import argparse
from typing import Any

from gridtap.channels import DEVICE_CATALOGUES


def _cmd_channels(args: argparse.Namespace) -> int:
    kinds = [args.namespace] if args.namespace else list(DEVICE_CATALOGUES)
    for kind in kinds:
        cat = DEVICE_CATALOGUES[kind]
        print(f"{kind}/ ({len(cat)} channels)")
        print(f"  {'channel':<24} {'unit':<6} {'phase':<5} {'opt':<3} description")
        for c in cat:
            opt = "yes" if c.optional else ""
            print(f"  {c.name:<24} {c.unit or '-':<6} {c.phase or '-':<5} {opt:<3} {c.description}")
        print()
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from gridtap import profiles

    print(f"{'profile':<14} {'phases':<6} {'requests':<8} {'registers':<9} {'S':<10} title")
    for name in profiles.names():
        p = profiles.load(name)
        if p.addressing == "sunspec_model":
            p = p.located(40070, p.models[-2])
        print(
            f"{name:<14} {p.phases:<6} {len(p.blocks):<8} {p.frame_length:<9} {p.apparent_power:<10} {p.title}"
        )
    return 0


def register(sub: Any) -> None:
    c = sub.add_parser("channels", help="print the channel catalogue")
    c.add_argument("namespace", nargs="?", choices=sorted(DEVICE_CATALOGUES), help="one catalogue only")
    c.set_defaults(func=_cmd_channels)
    c = sub.add_parser("profiles", help="list the bundled device profiles")
    c.set_defaults(func=_cmd_profiles)

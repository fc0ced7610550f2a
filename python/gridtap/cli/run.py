"""`gridtap run site.toml`: run a site."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def _cmd_run(args: argparse.Namespace) -> int:
    from gridtap.site import SiteError, load_site, run_site

    try:
        site = load_site(args.site)
    except SiteError as e:
        print(f"gridtap run: {e}", file=sys.stderr)
        return 2
    return asyncio.run(run_site(site, duration=args.duration))


def register(sub: Any) -> None:
    c = sub.add_parser("run", help="run a site: meters, virtual meters, controllers, telemetry")
    c.add_argument("site", help="site file (TOML)")
    c.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
    c.set_defaults(func=_cmd_run)

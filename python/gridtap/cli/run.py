"""`gridtap run site.toml`: run a site, with its live status (and /metrics when asked)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from gridtap.cli import args as types

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """Under systemd, a `<N>` prefix gives each line its syslog priority in the journal
    (`journalctl -p warning` then works), and the journal adds the timestamp."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        priority = _PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def _logging(level: str, live: bool) -> tuple[logging.Handler, Any]:
    """Log lines to stderr, or into the live table. Under systemd (JOURNAL_STREAM set) with the
    priority prefix and without a timestamp of their own."""
    from gridtap.status import RecentLog

    handler: logging.Handler
    if live:
        handler = RecentLog()
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(levelname)s %(name)s: %(message)s"
        if os.environ.get("JOURNAL_STREAM"):
            handler.setFormatter(_JournalFormatter(fmt))
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s " + fmt))
    root = logging.getLogger()
    previous = root.level
    root.setLevel(level.upper())
    root.addHandler(handler)
    return handler, previous


def _cmd_run(args: argparse.Namespace) -> int:
    from gridtap.metrics import parse_listen
    from gridtap.site import load_site, run_site
    from gridtap.site.checks import Checker
    from gridtap.site.config import state_file_path
    from gridtap.status import RecentLog, StatusOptions

    # SiteError, MetricsError, StateFileError: one line, exit 2 (cli.main)
    site = load_site(args.site)
    if args.metrics is not None:
        parse_listen(args.metrics)
    if args.state is not None:
        # a path on the command line is relative to the working directory, like the site file's
        site.state_file = str(state_file_path(Checker("--state"), "", str(Path(args.state).absolute())))
    if args.state_interval is not None:
        site.state_interval = args.state_interval
    live = sys.stdout.isatty() and not args.quiet
    handler, previous = _logging(args.log_level, live)
    status = StatusOptions(
        live=live,
        stream=sys.stdout,
        recent=handler if isinstance(handler, RecentLog) else None,
        interval=args.status_interval,
        summary_every=args.summary_every,
    )
    try:
        return asyncio.run(run_site(site, duration=args.duration, metrics=args.metrics, status=status))
    finally:
        root = logging.getLogger()
        root.removeHandler(handler)
        root.setLevel(previous)


def register(sub: Any) -> None:
    c = sub.add_parser(
        "run",
        help="run a site: meters, virtual meters, controllers, telemetry, metrics",
        description="Run a site. In a terminal it shows a live table; without one (or with --quiet) "
        "it logs link and quality changes and a summary every minute.",
    )
    c.add_argument("site", help="site file (TOML)")
    c.add_argument(
        "--duration", type=types.duration, default=0.0, help="seconds to run (default: until Ctrl-C)"
    )
    c.add_argument(
        "--metrics",
        metavar="ADDR",
        default=None,
        help="serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9108 (overrides [metrics] listen)",
    )
    c.add_argument(
        "--state", metavar="FILE", help="state file (counter offsets, energy); overrides [site] state_file"
    )
    c.add_argument("--state-interval", type=types.seconds, help="seconds between state saves (default 60)")
    c.add_argument(
        "--quiet", action="store_true", help="no live table: log lines only (as under a service manager)"
    )
    c.add_argument("--status-interval", type=types.seconds, default=1.0, help=argparse.SUPPRESS)
    c.add_argument(
        "--summary-every",
        type=types.seconds,
        default=60.0,
        metavar="S",
        help="seconds between status summaries in the log",
    )
    # logging is set up here (live table, journald), not by cli.main; --log-level is added by cli
    c.set_defaults(func=_cmd_run, default_log_level="info", own_logging=True)

"""`gridtap run site.toml`: run a site, with its live status (and /metrics when asked)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

_LEVELS = ("debug", "info", "warning", "error")


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
    from gridtap.metrics import MetricsError, parse_listen
    from gridtap.site import SiteError, load_site, run_site
    from gridtap.status import RecentLog, StatusOptions

    try:
        site = load_site(args.site)
        if args.metrics is not None:
            parse_listen(args.metrics)
    except (SiteError, MetricsError) as e:
        print(f"gridtap run: {e}", file=sys.stderr)
        return 2
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
    except MetricsError as e:  # the address is taken, or not ours
        print(f"gridtap run: {e}", file=sys.stderr)
        return 2
    finally:
        root = logging.getLogger()
        root.removeHandler(handler)
        root.setLevel(previous)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected positive seconds, got {text!r}")
    return value


def register(sub: Any) -> None:
    c = sub.add_parser(
        "run",
        help="run a site: meters, virtual meters, controllers, telemetry, metrics",
        description="Run a site. In a terminal it shows a live table; without one (or with --quiet) "
        "it logs link and quality changes and a summary every minute.",
    )
    c.add_argument("site", help="site file (TOML)")
    c.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
    c.add_argument(
        "--metrics",
        metavar="ADDR",
        default=None,
        help="serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9108 (overrides [metrics] listen)",
    )
    c.add_argument(
        "--quiet", action="store_true", help="no live table: log lines only (as under a service manager)"
    )
    c.add_argument(
        "--log-level", choices=_LEVELS, default="info", help="least severe log lines shown (default info)"
    )
    c.add_argument("--status-interval", type=_positive, default=1.0, help=argparse.SUPPRESS)
    c.add_argument(
        "--summary-every",
        type=_positive,
        default=60.0,
        metavar="S",
        help="seconds between status summaries in the log",
    )
    c.set_defaults(func=_cmd_run)

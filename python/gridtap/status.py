"""The live status of a running site: what `gridtap run` shows.

In a terminal, a table redrawn every second (like `gridtap demo`): each meter or bus with its link
state, the age of its last good poll and its polls, failures and timeouts; the key channels of
each grid namespace with their quality; each edge cycle's outputs and, for a controller that
holds, the reason; the MQTT connection and its queue; and the last log lines (so that log output
does not scribble over the table).

Under a service manager (no terminal, or `--quiet`), concise log lines instead: a line when a link
goes up or down or a grid namespace's quality changes, and a one-line summary every minute.
Controller holds and MQTT connection changes are logged where they happen (control/edge.py,
telemetry.py), so they are not repeated here.

Everything is read from the objects themselves (`Dal.snapshot`, a source's `.link_up` and
`.stats`, `EdgeCycle.last_result`, `MqttPublisher.backlog()`); nothing here is on the hot path.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from gridtap.dal import Dal, Quality, Reading, Snapshot

__all__ = ["RecentLog", "SiteStatus", "StatusOptions", "run_status"]

log = logging.getLogger(__name__)

# the key channels of a grid namespace, in the order the table shows them
KEY_CHANNELS = (
    "ActivePower",
    "ActivePower_L1",
    "ActivePower_L2",
    "ActivePower_L3",
    "Frequency",
    "Frequency_RoCoF",
)
# whose quality the log lines follow (RoCoF is ERROR by design until its window has filled)
WATCHED_CHANNELS = KEY_CHANNELS[:5]
_QUALITY_RANK = {Quality.GOOD: 0, Quality.STALE: 1, Quality.ERROR: 2}


def _kw(w: float) -> str:
    return f"{w / 1000:+.2f} kW"


def _value(channel: str, r: Reading) -> str:
    v = r.value
    if v is None:
        return "--"
    name = channel.partition("/")[2]
    if name == "Frequency":
        return f"{v:.3f} Hz"
    if name == "Frequency_RoCoF":
        return f"{v:+.3f} Hz/s"
    if r.unit == "W":
        return _kw(v)
    return f"{v:.6g} {r.unit}".rstrip()


def _cell(snap: Snapshot, channel: str) -> str:
    """A value with its quality: the value when GOOD, the value marked STALE, or ERROR."""
    r = snap.get(channel)
    if r is None:
        return "--"
    if r.quality is Quality.ERROR:
        return "ERROR"
    text = _value(channel, r)
    if channel.endswith("/ActivePower") and r.value:
        text += " import" if r.value > 0 else " EXPORT"
    return text if r.quality is Quality.GOOD else f"{text} STALE"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 0:
        return "0.0 s"  # the wall clock stepped back
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _table(rows: Sequence[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    """Rows of cells padded to columns, two spaces apart (columns in `right` right-aligned)."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    align = set(right)
    out = []
    for r in rows:
        cells = [
            c.rjust(w) if i in align else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append(("  " + "  ".join(cells)).rstrip())
    return out


def grid_namespaces(snap: Snapshot) -> list[str]:
    names = {c.partition("/")[0] for c in snap}
    return sorted(n for n in names if n == "grid" or n.startswith("grid_"))


def _quality_counts(snap: Snapshot) -> collections.defaultdict[str, collections.Counter[Quality]]:
    """namespace → how many of its channels are GOOD, STALE, ERROR (one pass over the snapshot)."""
    counts: collections.defaultdict[str, collections.Counter[Quality]] = collections.defaultdict(
        collections.Counter
    )
    for channel, r in snap.items():
        ns, _, name = channel.partition("/")
        if name != "Timestamp":
            counts[ns][r.quality] += 1
    return counts


def _quality_summary(counts: collections.Counter[Quality]) -> str:
    if counts and set(counts) == {Quality.GOOD}:
        return f"all {counts[Quality.GOOD]} GOOD"
    return ", ".join(f"{counts[q]} {q}" for q in (Quality.GOOD, Quality.STALE, Quality.ERROR) if counts[q])


class RecentLog(logging.Handler):
    """Keeps the last `size` log lines for the live table (instead of writing them under it)."""

    def __init__(self, size: int = 6, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record).splitlines()[0])
        except Exception:
            self.handleError(record)


class SiteStatus:
    """What a site is doing now: a table for a terminal, log lines for a service manager.

    `sources`: meters and buses (`.name`, `.namespace`, `.link_up`, `.stats`); `cycles`:
    `EdgeCycle`s; `publishers`: `MqttPublisher`s. The lists may be appended to while running.
    """

    def __init__(
        self,
        dal: Dal,
        sources: Iterable[Any] = (),
        cycles: Iterable[Any] = (),
        publishers: Iterable[Any] = (),
        *,
        title: str = "gridtap",
        clock: Callable[[], float] = time.time,
        recent: RecentLog | None = None,
    ) -> None:
        self.dal = dal
        self.sources: list[Any] = list(sources)
        self.cycles: list[Any] = list(cycles)
        self.publishers: list[Any] = list(publishers)
        self.title = title
        self.recent = recent
        self._clock = clock
        self._started = clock()
        self._links: dict[int, bool] = {}  # id(source) → link up, as last reported
        self._qualities: dict[str, tuple[Quality, tuple[str, ...]]] = {}  # namespace → worst, which

    # --- the table -------------------------------------------------------------------------------

    def render(self, now: float | None = None) -> str:
        t = self._clock() if now is None else now
        snap = self.dal.snapshot(t)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
        lines = [f"{self.title} — {stamp} — running {_age(t - self._started)}", ""]
        lines += self._sources_lines(t)
        lines += self._grid_lines(snap)
        lines += self._cycle_lines()
        lines += self._mqtt_lines()
        if self.recent is not None and self.recent.lines:
            lines += ["", "  recent log:", *(f"  {line}" for line in self.recent.lines)]
        return "\n".join(lines)

    def _sources_lines(self, now: float) -> list[str]:
        if not self.sources:
            return []
        rows = [
            ["meter / bus", "namespace", "link", "last good", "polls", "failed", "timeouts", "latency", ""]
        ]
        for src in list(self.sources):
            s = src.stats
            h = s.latency
            latency = f"{h.sum / h.count * 1000:.1f} ms" if h.count else "--"
            up = bool(src.link_up)
            rows.append(
                [
                    str(src.name),
                    src.namespace or "(bus)",
                    "UP" if up else "DOWN",
                    _age(None if s.last_ok is None else now - s.last_ok),
                    str(s.polls),
                    str(s.failed_polls),
                    str(s.timeouts),
                    latency,
                    # why: a link down, or a PMU whose readings the DAL refuses (its clock leads)
                    (s.last_error or "") if not up or getattr(src, "refusing", False) else "",
                ]
            )
        return [*_table(rows, right=(3, 4, 5, 6, 7)), ""]

    def _grid_lines(self, snap: Snapshot) -> list[str]:
        namespaces = grid_namespaces(snap)
        if not namespaces:
            return ["  no grid channels yet", ""]
        rows = [["namespace", "ActivePower", "L1", "L2", "L3", "Frequency", "RoCoF", "quality"]]
        counts = _quality_counts(snap)
        for ns in namespaces:
            rows.append([ns, *(_cell(snap, f"{ns}/{c}") for c in KEY_CHANNELS), _quality_summary(counts[ns])])
        return [*_table(rows), ""]

    def _cycle_lines(self) -> list[str]:
        lines: list[str] = []
        for cycle in list(self.cycles):
            result = cycle.last_result
            outputs = cycle.outputs
            b = cycle.battery
            cells = [_kw(outputs[c]) if c in outputs else "--" for c in
                     (f"{b}/SetActivePower_L1", f"{b}/SetActivePower_L2", f"{b}/SetActivePower_L3", f"{b}/SetActivePower")]  # fmt: skip
            rows = [["controllers", "L1", "L2", "L3", "total"], [f"{b} setpoint", *cells]]
            limits = sorted(c for c in outputs if "/SetActivePowerLimit_" in c)
            if limits:
                pv = {c.rpartition("_")[2]: _kw(outputs[c]) for c in limits}
                rows.append([f"{cycle.pv} limit", *(pv.get(p, "--") for p in ("L1", "L2", "L3")), ""])
            lines += _table(rows, right=(1, 2, 3, 4))
            held = result.held if result is not None else {}
            for c in cycle.controllers:
                state = (
                    f"HOLDS: {held[c.name]}" if c.name in held else ("acting" if result else "not run yet")
                )
                lines.append(f"  {c.name}: {state}")
            if result is not None:
                lines += [f"  note: {n}" for n in result.notes[:3]]
            lines.append("")
        return lines

    def _mqtt_lines(self) -> list[str]:
        lines = []
        for pub in list(self.publishers):
            in_flight, waiting = pub.backlog()
            state = "connected" if pub.connected else "NOT connected"
            error = "" if pub.connected or not pub.last_error else f" ({pub.last_error})"
            lines.append(
                f"  MQTT {pub.host}:{pub.port} {state}{error}: {in_flight} in flight, {waiting} channels waiting"
            )
        return lines

    # --- log lines -------------------------------------------------------------------------------

    def changes(self, now: float | None = None) -> list[str]:
        """Lines for what changed since the last call: a link up or down, a grid namespace's
        quality (the worst of its power and frequency channels). The first call reports links already up and
        namespaces not GOOD; a link not up yet is reported once a poll has failed."""
        t = self._clock() if now is None else now
        out: list[str] = []
        for src in list(self.sources):
            up, before = bool(src.link_up), self._links.get(id(src))
            if up == before or (before is None and not up and not src.stats.failed_polls):
                continue
            self._links[id(src)] = up
            where = f"{src.name} ({src.namespace or 'bus'})"
            out.append(
                f"{where}: link up" if up else f"{where}: link DOWN: {src.stats.last_error or 'no answer'}"
            )
        snap = self.dal.snapshot(t)
        for ns in grid_namespaces(snap):
            readings = {c: snap[f"{ns}/{c}"] for c in WATCHED_CHANNELS if f"{ns}/{c}" in snap}
            if not readings:
                continue
            worst = max((r.quality for r in readings.values()), key=_QUALITY_RANK.__getitem__)
            which = tuple(c for c, r in readings.items() if r.quality is worst)
            before_q = self._qualities.get(ns)
            if before_q is not None and before_q[0] is worst:
                continue
            self._qualities[ns] = (worst, which)
            if before_q is None and worst is Quality.GOOD:
                out.append(f"{ns}: GOOD, {self._grid_brief(snap, ns)}")
            elif worst is Quality.GOOD:
                out.append(f"{ns}: GOOD again, {self._grid_brief(snap, ns)}")
            else:
                was = "" if before_q is None else f" (was {before_q[0]})"
                out.append(f"{ns}: {worst}{was}: {', '.join(which)}")
        return out

    @staticmethod
    def _grid_brief(snap: Snapshot, ns: str) -> str:
        return f"P {_cell(snap, f'{ns}/ActivePower')}, f {_cell(snap, f'{ns}/Frequency')}"

    def summary(self, now: float | None = None) -> str:
        """One line: sources up, poll counts, each grid namespace, the controllers, MQTT."""
        t = self._clock() if now is None else now
        snap = self.dal.snapshot(t)
        parts = []
        if self.sources:
            sources = list(self.sources)
            up = sum(1 for s in sources if s.link_up)
            polls = sum(s.stats.polls for s in sources)
            failed = sum(s.stats.failed_polls for s in sources)
            timeouts = sum(s.stats.timeouts for s in sources)
            parts.append(f"{up}/{len(sources)} links up, polls {polls}, failed {failed}, timeouts {timeouts}")
        counts = _quality_counts(snap)
        for ns in grid_namespaces(snap):
            parts.append(f"{ns} {self._grid_brief(snap, ns)} ({_quality_summary(counts[ns])})")
        for cycle in list(self.cycles):
            result = cycle.last_result
            total = cycle.outputs.get(f"{cycle.battery}/SetActivePower")
            held = result.held if result is not None else {}
            state = f"holding ({', '.join(held)})" if held else ("acting" if result else "not run yet")
            setpoint = "--" if total is None else _kw(total)
            parts.append(f"{cycle.battery} setpoint {setpoint}, controllers {state}")
        for pub in list(self.publishers):
            _, waiting = pub.backlog()
            parts.append(f"MQTT {'connected' if pub.connected else 'NOT connected'}, {waiting} waiting")
        return "; ".join(parts) if parts else "nothing to show"


@dataclass
class StatusOptions:
    """How `gridtap run` shows its status: a table redrawn on `stream` every `interval` s
    (`live`), or log lines (the changes every `interval` s, a summary every `summary_every` s).
    `recent`: the handler whose last log lines the table shows."""

    live: bool
    stream: TextIO | None = None
    recent: RecentLog | None = None
    interval: float = 1.0
    summary_every: float = 60.0


async def run_status(status: SiteStatus, options: StatusOptions) -> None:
    """Show `status` as `options` say, until cancelled."""
    next_summary = time.monotonic() + options.summary_every
    stream = options.stream or sys.stdout
    while True:
        try:
            if options.live:
                stream.write("\x1b[H\x1b[2J" + status.render() + "\n  (Ctrl-C to stop)\n")
                stream.flush()
            else:
                for line in status.changes():
                    log.info("%s", line)
                if time.monotonic() >= next_summary:
                    next_summary += options.summary_every
                    log.info("status: %s", status.summary())
        except OSError as e:  # the terminal went away
            log.warning("live status stopped: %s", e)
            return
        except Exception:
            log.exception("live status failed")
        await asyncio.sleep(options.interval)

"""Shared pieces of the benchmark suites: test frames, baseline timing, and the ratio table printed
at the end of the run.

Each suite times gridtap with the `benchmark` fixture (the pytest-benchmark table) and, for the
ratios, gridtap and its baselines (numpy, pymodbus, pure Python) in turns with
`interleaved_medians`, then calls `ratios.add(...)`: the numbers go into `benchmark.extra_info` (so
`--benchmark-json` keeps them) and into one table printed after the run, with each target and
whether this run met it. Ratios are baseline time / gridtap time (> 1: gridtap is faster), from
medians: the benchmark machines are shared and medians move less than means under load. A kernel
held against a hardware floor (numpy streaming the same arrays) is recorded with `ratios.floor`:
gridtap time / floor time, where lower is better.

With GRIDTAP_RATIOS_JSON=path the rows are also written there as JSON at the end of the run:
`make bench` saves one file per run in bench-results/, `scripts/bench_tables.py` turns the last
three into the README and docs/benchmarks.md tables (min-max over the runs), and
`scripts/check_ratios.py` fails CI on a gross regression in the quick run's file. A suite joins
those tables just by calling `ratios.add` / `ratios.floor` / `ratios.note`; `readme=` puts a row
in the README's short table too.
"""

from __future__ import annotations

import os

# numpy's BLAS starts a spinning worker thread per core; on a 2-core machine it competes with the
# code being timed (gridtap and numpy alike). None of the baselines calls BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gridtap
import numpy as np
import pytest
from gridtap.sim.scenario import DEFAULT_START, GridScenario

QUICK = os.environ.get("GRIDTAP_BENCH_QUICK") == "1"


def median_seconds(fn: Callable[[], object], repeats: int, number: int | None = None) -> float:
    """Median seconds per call of `fn` over `repeats` timings of `number` calls each."""
    return interleaved_medians({"fn": fn}, repeats, number)["fn"]


def interleaved_medians(
    fns: dict[str, Callable[[], object]], repeats: int, number: int | None = None
) -> dict[str, float]:
    """Median seconds per call of each function, timed in turns (a, b, a, b, ...) so that a change
    in the load of a shared machine hits every contender alike. Each timing covers `number` calls
    (by default enough for the slowest function to take about 5 ms); one untimed call each first."""
    first = {}
    for label, fn in fns.items():
        start = time.perf_counter()
        fn()
        first[label] = time.perf_counter() - start
    if number is None:
        number = max(1, math.ceil(0.005 / max(max(first.values()), 1e-9)))
    times: dict[str, list[float]] = {label: [] for label in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[label].append((time.perf_counter() - start) / number)
    return {label: statistics.median(t) for label, t in times.items()}


def scenario_frames(profile: gridtap.Profile, n: int, seed: int = 7) -> np.ndarray:
    """n frames of a 1 s scenario (export at midday), with invalid values mixed in: "not
    available" (NaN) fields, out-of-range values, Inf, and idle or inconsistent phases."""
    sc = GridScenario(seed=seed, start=DEFAULT_START, step=1.0, pv_kwp=12.0, load_kw=5.0, battery_kw=3.0)
    series = sc.series(DEFAULT_START, DEFAULT_START + n - 1, 1.0)
    names = [f.channel for f in profile.fields]
    columns = {ch: series[f"grid/{ch}"].tolist() for ch in names}
    rng = np.random.default_rng(seed)
    special = {int(i): k for k, i in enumerate(rng.choice(n, max(8, n // 50), replace=False))}
    frames = np.empty((n, profile.frame_length), dtype=np.uint16)
    for i in range(n):
        values: dict[str, float | None] = {ch: columns[ch][i] for ch in names}
        kind = special.get(i)
        if kind is not None:
            match kind % 8:
                case 0:
                    values[names[kind % len(names)]] = None  # NaN registers
                case 1:
                    values["Frequency"] = 0.0  # outside 40..70 Hz
                case 2:
                    values["Voltage_L2"] = -230.0  # a magnitude below 0
                case 3:
                    values["Current_L1"] = math.inf
                case 4:
                    values["ActivePower_L3"] = math.inf  # Inf is no value, whatever the range
                case 5:
                    values.update(ActivePower_L1=0.0, ApparentPower_L1=0.0)  # idle phase: PF 1
                case 6:
                    values.update(ActivePower_L2=150.0, ApparentPower_L2=0.0)  # P without S: no PF
                case _:
                    values["EnergyExport"] = None
        frames[i] = profile.encode(values)
    return frames


def benchmark_median(benchmark) -> float | None:
    """The benchmark's median seconds per call, or None when benchmarks are disabled."""
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else float(stats.stats.median)


@dataclass(frozen=True)
class Row:
    case: str
    what: str
    value: str
    target: str
    met: bool | None
    # machine-readable form, for bench-results/*.json
    label: str = ""
    kind: str = "note"  # "time": gridtap's own time; "speedup": baseline / gridtap; "floor": gridtap / floor
    number: float | None = None
    goal: float | None = None
    seconds: float | None = None
    readme: str | None = None
    # which comparison of the case (the `key` of `add`) and its unit, e.g. "100,000 frames, alone"
    variant: str = ""
    unit: str = ""


class RatioTable:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(
        self,
        benchmark,
        case: str,
        gridtap_s: float,
        baselines: dict[str, float],
        *,
        targets: dict[str, float] | None = None,
        unit: str = "call",
        key: str = "",
        readme: dict[str, str] | None = None,
    ) -> None:
        """Record gridtap's median time per `unit` and, per baseline, its time and the ratio.
        `targets` maps a baseline label to the ratio the project claims (gridtap ≥ N× faster);
        `key` prefixes the extra_info keys when one benchmark records several comparisons;
        `readme` maps a baseline label to the README table's wording for that row."""
        targets = targets or {}
        readme = readme or {}
        benchmark.extra_info[f"{key}gridtap_median_s"] = gridtap_s
        self.rows.append(
            Row(
                case,
                f"gridtap per {unit}",
                _seconds(gridtap_s),
                "",
                None,
                "gridtap",
                "time",
                gridtap_s,
                None,
                gridtap_s,
                None,
                key,
                unit,
            )
        )
        for label, seconds in baselines.items():
            ratio = seconds / gridtap_s
            benchmark.extra_info[f"{key}{label}_median_s"] = seconds
            benchmark.extra_info[f"{key}ratio_vs_{label}"] = ratio
            target = targets.get(label)
            met = None if target is None else ratio >= target
            if target is not None:
                benchmark.extra_info[f"{key}target_vs_{label}"] = target
                benchmark.extra_info[f"{key}target_met_vs_{label}"] = met
            self.rows.append(
                Row(
                    case,
                    f"{label}: {_seconds(seconds)}",
                    f"{ratio:,.1f}x",
                    "" if target is None else f">= {target:g}x",
                    met,
                    label,
                    "speedup",
                    ratio,
                    target,
                    seconds,
                    readme.get(label),
                    key,
                    unit,
                )
            )

    def floor(
        self,
        benchmark,
        case: str,
        gridtap_s: float,
        label: str,
        floor_s: float,
        *,
        at_most: float | None = None,
        readme: str | None = None,
    ) -> None:
        """Record gridtap's time as a multiple of a hardware floor's (e.g. numpy streaming the
        same arrays), timed in turns with it: lower is better, `at_most` is the target."""
        multiple = gridtap_s / floor_s
        benchmark.extra_info[f"floor_{label}_median_s"] = floor_s
        benchmark.extra_info[f"times_floor_{label}"] = multiple
        met = None if at_most is None else multiple <= at_most
        self.rows.append(
            Row(
                case,
                f"{label} (floor): {_seconds(floor_s)}",
                f"{multiple:,.2f}x the floor",
                "" if at_most is None else f"<= {at_most:g}x",
                met,
                label,
                "floor",
                multiple,
                at_most,
                floor_s,
                readme,
            )
        )

    def note(self, benchmark, case: str, what: str, value: str, target: str = "", met: bool | None = None):
        """A measured number that is not a ratio (polls per second, CPU %, missed cycles)."""
        benchmark.extra_info[what] = value
        self.rows.append(Row(case, what, value, target, met, what))

    def save(self, path: str) -> None:
        rows = [
            {
                "case": r.case,
                "label": r.label,
                "kind": r.kind,
                "what": r.what,
                "value": r.value,
                "number": r.number,
                "target": r.goal,
                "seconds": r.seconds,
                "met": r.met,
                "readme": r.readme,
                "variant": r.variant,
                "unit": r.unit,
            }
            for r in self.rows
        ]
        meta = {"quick": QUICK, "time": time.time(), "simd": gridtap._core.simd_level()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1), encoding="utf-8")


def _seconds(s: float) -> str:
    if s >= 1.0:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.3f} us"
    return f"{s * 1e9:.1f} ns"


_TABLE = RatioTable()


@pytest.fixture(scope="session")
def ratios() -> RatioTable:
    return _TABLE


def pytest_report_header(config) -> list[str]:
    from gridtap import _core

    so = Path(_core.__file__).resolve()
    lines = [f"gridtap core: {so} (built {time.ctime(so.stat().st_mtime)}); quick mode: {QUICK}"]
    repo = Path(__file__).resolve().parent.parent
    # `make build` (debug) leaves this stamp; `make bench` removes it after the release build
    if so.parent == repo / "python" / "gridtap" and (repo / ".venv" / ".core-built").exists():
        lines.append(
            "WARNING: .venv/.core-built exists: the core in the source tree is probably a debug build"
        )
    return lines


def pytest_terminal_summary(terminalreporter) -> None:
    rows = _TABLE.rows
    if not rows:
        return
    out = os.environ.get("GRIDTAP_RATIOS_JSON")
    if out:
        _TABLE.save(out)
    w = [max(len(getattr(r, k)) for r in rows) for k in ("case", "what", "value", "target")]
    tr = terminalreporter
    tr.section("gridtap against its baselines (medians; ratio = baseline time / gridtap time)")
    for r in rows:
        met = "" if r.met is None else ("met" if r.met else "NOT met")
        tr.write_line(
            f"{r.case:<{w[0]}}  {r.what:<{w[1]}}  {r.value:>{w[2]}}  {r.target:<{w[3]}}  {met}".rstrip()
        )

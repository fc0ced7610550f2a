"""Regenerate the benchmark tables of README.md and docs/benchmarks.md from `make bench` results.

`make bench` writes its ratio table (benches/conftest.py) to bench-results/ratios-<time>.json.
This script reads the newest three of those files (or the files named on the command line, or,
with --run N, runs `make bench` N times first) and rewrites only the regions between these markers,
leaving the rest of each file as it is:

    README.md:          <!-- bench-table:readme begin --> ... <!-- bench-table:readme end -->
    docs/benchmarks.md: <!-- bench-table:all begin -->    ... <!-- bench-table:all end -->

Every number is shown as min-max over the runs. The README region lists the rows a suite marked
with `readme=`; the docs region lists every row of every suite (a suite joins by calling
`ratios.add` / `ratios.floor` / `ratios.note` in benches/). Text outside the markers, such as other
sections of docs/benchmarks.md, is never touched.

    python scripts/bench_tables.py              # newest 3 files in bench-results/
    python scripts/bench_tables.py --run 3      # make bench three times, then the tables
    python scripts/bench_tables.py a.json b.json c.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"


@dataclass
class Agg:
    case: str
    label: str
    kind: str
    what: str
    target: float | None
    readme: str | None
    variant: str = ""
    unit: str = ""
    numbers: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    met: list[bool | None] = field(default_factory=list)


def load(paths: list[Path]) -> tuple[list[Agg], int]:
    rows: dict[tuple[str, str, str], Agg] = {}
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        for r in data["rows"]:
            variant, unit = r.get("variant", ""), r.get("unit", "")
            key = (r["case"], variant, r["label"], r["kind"])
            a = rows.get(key)
            if a is None:
                a = rows[key] = Agg(
                    r["case"], r["label"], r["kind"], r["what"], r["target"], r["readme"], variant, unit
                )
            if r["number"] is not None:
                a.numbers.append(float(r["number"]))
            if r["seconds"] is not None:
                a.seconds.append(float(r["seconds"]))
            a.values.append(str(r["value"]))
            a.met.append(r["met"])
    return list(rows.values()), len(paths)


def span(xs: list[float], fmt) -> str:
    if not xs:
        return ""
    lo, hi = min(xs), max(xs)
    a, b = fmt(lo), fmt(hi)
    return a if a == b else f"{a}-{b}"


def seconds(s: float) -> str:
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e9:.0f} ns"


def ratio(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def verdict(a: Agg) -> str:
    met = [m for m in a.met if m is not None]
    if not met:
        return ""
    if all(met):
        return "yes"
    if not any(met):
        return "no"
    return f"in {sum(met)} of {len(met)} runs"


def target_text(a: Agg) -> str:
    if a.target is None:
        return ""
    return f"≤ {a.target:g}x" if a.kind == "floor" else f"≥ {a.target:g}x"


def gridtap_time(rows: list[Agg], case: str, variant: str) -> str:
    for a in rows:
        if a.case == case and a.variant == variant and a.kind == "time":
            return span(a.seconds, seconds)
    return ""


def case_text(a: Agg) -> str:
    return f"{a.case} (per {a.unit})" if a.unit else a.case


def readme_table(rows: list[Agg], runs: int) -> str:
    out = [
        f"| what | against | ratio, min-max of {runs} runs (target) |",
        "|---|---|---|",
    ]
    for a in rows:
        if not a.readme or not a.numbers:
            continue
        what, _, against = a.readme.partition(" | ")
        unit = "x the floor" if a.kind == "floor" else "x"
        target = target_text(a)
        v = verdict(a)
        note = f" ({target}: {'met' if v == 'yes' else 'not met' if v == 'no' else v})" if target else ""
        out.append(f"| {what} | {against} | **{span(a.numbers, ratio)}{unit}**{note} |")
    return "\n".join(out)


def docs_table(rows: list[Agg], runs: int) -> str:
    out = [
        f"| Benchmark | gridtap | Against | Ratio | Target | Met ({runs} runs) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for a in rows:
        if a.kind == "time":
            continue
        g = gridtap_time(rows, a.case, a.variant)
        if a.kind == "speedup":
            against = f"{a.label}: {span(a.seconds, seconds)}"
            value = f"{span(a.numbers, ratio)}x"
        elif a.kind == "floor":
            against = f"floor {a.label}: {span(a.seconds, seconds)}"
            value = f"{span(a.numbers, ratio)}x the floor"
        else:
            against, value, g = a.label, " / ".join(sorted(set(a.values))), ""
        out.append(f"| {case_text(a)} | {g} | {against} | {value} | {target_text(a)} | {verdict(a)} |")
    return "\n".join(out)


def replace_region(path: Path, name: str, body: str) -> None:
    text = path.read_text(encoding="utf-8")
    begin, end = f"<!-- bench-table:{name} begin -->", f"<!-- bench-table:{name} end -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        sys.exit(f"{path}: no {begin} ... {end} region to rewrite")
    path.write_text(pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text, count=1), encoding="utf-8")


def run_bench(n: int) -> list[Path]:
    RESULTS.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        path = RESULTS / f"ratios-{int(time.time())}-{i}.json"
        env = dict(os.environ, GRIDTAP_RATIOS_JSON=str(path))
        subprocess.run(["make", "bench"], cwd=ROOT, env=env, check=True)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path, help="ratio files (default: newest 3 in bench-results/)")
    ap.add_argument("--run", type=int, default=0, metavar="N", help="run `make bench` N times first")
    ap.add_argument("--runs", type=int, default=3, help="how many of the newest files to use (default 3)")
    args = ap.parse_args(argv)
    if args.run:
        paths = run_bench(args.run)
    elif args.files:
        paths = args.files
    else:
        found = sorted(RESULTS.glob("ratios-*.json"), key=lambda p: p.stat().st_mtime)
        paths = found[-args.runs :]
    if not paths:
        sys.exit("no benchmark results: run `make bench` (it writes bench-results/ratios-*.json)")
    for p in paths:
        if not p.exists():
            sys.exit(f"{p}: no such file")
    quick = [p for p in paths if json.loads(p.read_text(encoding="utf-8"))["meta"].get("quick")]
    if quick:
        sys.exit(f"{quick[0]}: a quick run (GRIDTAP_BENCH_QUICK=1); the tables need `make bench` results")
    rows, runs = load(paths)
    replace_region(ROOT / "README.md", "readme", readme_table(rows, runs))
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    stamp = time.strftime("%Y-%m-%d", time.localtime(max(p.stat().st_mtime for p in paths)))
    body = f"{runs} runs of `make bench`, {stamp}, {machine}; min-max over the runs.\n\n" + docs_table(
        rows, runs
    )
    replace_region(ROOT / "docs" / "benchmarks.md", "all", body)
    print(f"tables rewritten from {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

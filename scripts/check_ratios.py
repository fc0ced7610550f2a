"""Fail on a gross performance regression, from the ratio file of the quick benchmark run.

`make bench-quick` writes bench-results/quick.json (GRIDTAP_BENCH_QUICK=1: small inputs, a few
rounds). Each row of it that has a target is held to a limit that only a gross regression breaks:

- a speedup (baseline time / gridtap time, target ≥ T): fails below half of min(T, reference);
- a multiple of a floor (gridtap time / floor time, target ≤ T): fails above twice max(T, reference).

The reference is the row's value in benches/ratio_reference.json, recorded from quick runs on the
project's machine (`--record`): the quick run's small inputs change some ratios (a 20,000-sample
series sits in cache, where numpy's floor is much faster than on 1,000,000 samples), and a target
the kernels do not meet yet would otherwise fail every run. Rows without a reference are listed
and skipped, so a new suite never breaks CI before its reference is recorded.

    python scripts/check_ratios.py bench-results/quick.json
    python scripts/check_ratios.py --record bench-results/quick.json [more.json ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent.parent / "benches" / "ratio_reference.json"


def rows_with_targets(path: Path) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [r for r in data["rows"] if r["target"] is not None and r["number"] is not None]


def key(r: dict) -> str:
    variant = r.get("variant") or ""
    return f"{r['case']} | {variant}{r['kind']} {r['label']}"


def record(paths: list[Path]) -> int:
    """The reference: per row, the worst value over the given quick runs."""
    ref: dict[str, float] = {}
    for path in paths:
        for r in rows_with_targets(path):
            k, v = key(r), float(r["number"])
            worse = max if r["kind"] == "floor" else min
            ref[k] = worse(ref.get(k, v), v)
    REFERENCE.write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {len(ref)} references in {REFERENCE}")
    return 0


def check(path: Path) -> int:
    ref = json.loads(REFERENCE.read_text(encoding="utf-8")) if REFERENCE.exists() else {}
    failures, skipped, checked = [], [], 0
    for r in rows_with_targets(path):
        k, v, target = key(r), float(r["number"]), float(r["target"])
        if k not in ref:
            skipped.append(k)
            continue
        checked += 1
        if r["kind"] == "floor":
            limit = 2.0 * max(target, ref[k])
            if v > limit:
                failures.append(f"{k}: {v:.2f}x the floor, limit {limit:.2f}x (target {target:g}x)")
        else:
            limit = 0.5 * min(target, ref[k])
            if v < limit:
                failures.append(f"{k}: {v:.2f}x, limit {limit:.2f}x (target {target:g}x)")
    for k in skipped:
        print(f"no reference, not checked: {k}")
    for f in failures:
        print(f"GROSS REGRESSION: {f}")
    print(f"{checked} ratios checked against their limits, {len(failures)} failed")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--record", action="store_true", help="write the reference from these quick runs")
    args = ap.parse_args(argv)
    for p in args.files:
        if not p.exists():
            print(f"{p}: no such file (run `make bench-quick` first)", file=sys.stderr)
            return 2
    if args.record:
        return record(args.files)
    if len(args.files) != 1:
        print("check one quick-run file at a time", file=sys.stderr)
        return 2
    return check(args.files[0])


if __name__ == "__main__":
    raise SystemExit(main())

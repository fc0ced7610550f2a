"""Fail on a gross performance regression, from the ratio file of the quick benchmark run.

`make bench-quick` writes bench-results/quick.json (GRIDTAP_BENCH_QUICK=1: small inputs, a few
rounds). Each row of it that has a target is held to a limit that only a gross regression breaks:

- a speedup (baseline time / gridtap time, target ≥ T): fails below half of min(T, reference);
- a multiple of a floor (gridtap time / floor time, target ≤ T): fails above twice max(T, reference).

The reference is the row's value in benches/ratio_reference.json, recorded from quick runs on the
project's machine (`--record`): the quick run's small inputs change some ratios (a 20,000-sample
series sits in cache, where numpy's floor is much faster than on 1,000,000 samples), and a target
the kernels do not meet yet would otherwise fail every run. References are kept per instruction
set the kernels ran with (the run's `meta.simd`: baseline, avx2, avx512; `GRIDTAP_SIMD` lowers it),
since a CI machine without AVX-512 runs the portable copies of the loops; a run on a set without a
reference is held to the most lenient one recorded. Rows without a reference are listed and
skipped, so a new suite never breaks CI before its reference is recorded.

    python scripts/check_ratios.py bench-results/quick.json
    python scripts/check_ratios.py --record bench-results/quick.json [more.json ...]
    (record from quick runs at each level: GRIDTAP_SIMD=baseline make bench-quick, then avx2, ...)
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


def simd_of(path: Path) -> str:
    meta = json.loads(path.read_text(encoding="utf-8")).get("meta", {})
    return str(meta.get("simd", "avx512"))


def worse(kind: str, a: float, b: float) -> float:
    return max(a, b) if kind == "floor" else min(a, b)


def record(paths: list[Path]) -> int:
    """The reference: per instruction set and row, the worst value over the given quick runs."""
    ref: dict[str, dict[str, float]] = {}
    for path in paths:
        level = ref.setdefault(simd_of(path), {})
        for r in rows_with_targets(path):
            k, v = key(r), float(r["number"])
            level[k] = worse(r["kind"], level.get(k, v), v)
    REFERENCE.write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded references for {', '.join(sorted(ref))} in {REFERENCE}")
    return 0


def reference_for(level: str, kind: str, k: str, refs: dict[str, dict[str, float]]) -> float | None:
    """The row's reference at this instruction set, else the most lenient one recorded."""
    if k in refs.get(level, {}):
        return refs[level][k]
    known = [r[k] for r in refs.values() if k in r]
    if not known:
        return None
    return max(known) if kind == "floor" else min(known)


def check(path: Path) -> int:
    refs = json.loads(REFERENCE.read_text(encoding="utf-8")) if REFERENCE.exists() else {}
    level = simd_of(path)
    print(f"kernels ran with {level}")
    failures, skipped, checked = [], [], 0
    for r in rows_with_targets(path):
        k, v, target = key(r), float(r["number"]), float(r["target"])
        ref = reference_for(level, r["kind"], k, refs)
        if ref is None:
            skipped.append(k)
            continue
        checked += 1
        if r["kind"] == "floor":
            limit = 2.0 * max(target, ref)
            if v > limit:
                failures.append(f"{k}: {v:.2f}x the floor, limit {limit:.2f}x (target {target:g}x)")
        else:
            limit = 0.5 * min(target, ref)
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

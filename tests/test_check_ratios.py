"""scripts/check_ratios.py: the CI gate on gross benchmark regressions, per instruction set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_ratios.py"


@pytest.fixture()
def gate(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("check_ratios", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "REFERENCE", tmp_path / "reference.json")
    return mod


def run(tmp_path: Path, name: str, simd: str, decode: float, rocof_floor: float) -> Path:
    rows = [
        {"case": "decode", "label": "numpy", "kind": "speedup", "number": decode, "target": 3.0},
        {"case": "rocof", "label": "np.add", "kind": "floor", "number": rocof_floor, "target": 2.0},
    ]
    path = tmp_path / name
    path.write_text(json.dumps({"meta": {"quick": True, "simd": simd}, "rows": rows}), encoding="utf-8")
    return path


def test_each_instruction_set_is_held_to_its_own_reference(gate, tmp_path, capsys):
    gate.record(
        [
            run(tmp_path, "a1.json", "avx512", decode=5.0, rocof_floor=20.0),
            run(tmp_path, "a2.json", "avx512", decode=4.0, rocof_floor=22.0),
            run(tmp_path, "b.json", "baseline", decode=2.0, rocof_floor=60.0),
        ]
    )
    ref = json.loads(gate.REFERENCE.read_text())
    # the worst of the runs: the lowest speedup, the highest multiple of the floor
    assert ref["avx512"] == {"decode | speedup numpy": 4.0, "rocof | floor np.add": 22.0}
    # a portable run as slow as its reference passes; the same numbers on AVX-512 are a regression
    assert gate.check(run(tmp_path, "c.json", "baseline", decode=1.5, rocof_floor=100.0)) == 0
    assert gate.check(run(tmp_path, "d.json", "avx512", decode=1.4, rocof_floor=45.0)) == 1
    out = capsys.readouterr().out
    assert "GROSS REGRESSION: decode | speedup numpy: 1.40x, limit 1.50x" in out
    assert "GROSS REGRESSION: rocof | floor np.add: 45.00x the floor, limit 44.00x" in out


def test_a_set_without_a_reference_gets_the_most_lenient_one(gate, tmp_path):
    gate.record(
        [
            run(tmp_path, "a.json", "avx512", decode=5.0, rocof_floor=20.0),
            run(tmp_path, "b.json", "baseline", decode=2.0, rocof_floor=60.0),
        ]
    )
    # avx2 has none: limits come from baseline's (speedup 0.5 × 2.0, floor 2 × 60)
    assert gate.check(run(tmp_path, "c.json", "avx2", decode=1.01, rocof_floor=119.0)) == 0
    assert gate.check(run(tmp_path, "d.json", "avx2", decode=0.99, rocof_floor=50.0)) == 1

"""Test helpers: a site's load, PV and battery power written to a DAL, for the virtual meter."""

from __future__ import annotations

from gridtap import Dal

PH = ("L1", "L2", "L3")


def per_phase(base: str, values: tuple[float | None, ...], total: bool = True) -> dict[str, float | None]:
    out: dict[str, float | None] = {f"{base}_{p}": v for p, v in zip(PH, values, strict=True)}
    if total and all(v is not None for v in values):
        out[base] = sum(v for v in values if v is not None)
    return out


def write_site(
    dal: Dal,
    t: float,
    load: tuple[float, ...] = (0.0, 0.0, 0.0),
    pv: tuple[float, ...] = (0.0, 0.0, 0.0),
    battery: tuple[float, ...] | None = None,
    reactive: bool = False,
) -> None:
    dal.write_many(
        "load",
        per_phase("ActivePower", load) | (per_phase("ReactivePower", (0.0,) * 3) if reactive else {}),
        t,
    )
    dal.write_many(
        "pv", per_phase("ActivePower", pv) | (per_phase("ReactivePower", (0.0,) * 3) if reactive else {}), t
    )
    if battery is not None:
        dal.write_many(
            "battery",
            per_phase("ActivePower", battery) | (per_phase("ReactivePower", (0.0,) * 3) if reactive else {}),
            t,
        )

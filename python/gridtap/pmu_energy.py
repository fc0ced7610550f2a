"""What a PMU stream accumulates over its frames: energy integrated from P and Q, and gridtap's own
RoCoF estimate from FREQ (a diagnostic beside the PMU's DFREQ).

Frames are collected on the kernel time line (see `gridtap.pmu_time`: it runs through leap
seconds) and integrated in batches every `energy_interval` seconds, so the per-frame cost is two
list appends. The energy totals are what survives a restart (`state()` / `restore_state()`, filed
in the site's state file by `gridtap.state.pmu_key`): a restored PMU continues its counters and
they never go backwards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gridtap._core import EnergyIntegrator, InputError, RocofEstimator

__all__ = ["FrameIntegrals"]


class FrameIntegrals:
    """Energy and RoCoF of one stream. `add_power` / `add_frequency` per frame, `due(kernel)`
    says when to `flush(kernel)`; `energy` is then the latest totals (channel → value) and
    `fresh` says they have not been published yet."""

    __slots__ = (
        "_energy",
        "_next",
        "_p",
        "_pf",
        "_pt",
        "_q",
        "_rocof",
        "_t",
        "energy",
        "fresh",
        "interval",
        "rocof_estimate",
        "rocof_estimate_time",
    )

    def __init__(self, interval: float, max_gap: float, rocof_window: float) -> None:
        self.interval = interval
        self._energy = EnergyIntegrator(max_gap=max_gap)
        self._rocof = RocofEstimator(window=rocof_window)
        self._t: list[float] = []
        self._p: list[float] = []
        self._q: list[float] = []
        self._pt: list[float] = []
        self._pf: list[float] = []
        self._next = -math.inf
        self.energy: dict[str, float] = {}
        self.fresh = False
        self.rocof_estimate: float | None = None
        self.rocof_estimate_time: float | None = None

    @property
    def max_gap(self) -> float:
        return float(self._energy.max_gap)

    def add_power(self, kernel: float, p: float, q: float | None) -> None:
        self._t.append(kernel)
        self._p.append(p)
        self._q.append(0.0 if q is None else q)

    def add_frequency(self, kernel: float, freq: float) -> None:
        self._pt.append(kernel)
        self._pf.append(freq)

    def due(self, kernel: float) -> bool:
        return kernel >= self._next and bool(self._t or self._pt)

    def flush(self, kernel: float, shift: float) -> None:
        """Integrate the frames collected since the last flush; `shift` (kernel − frame time) puts
        the RoCoF estimate's time back on the frames' clock."""
        self._next = kernel + self.interval
        self._integrate()
        if self._pt:
            ft = np.array(self._pt)
            r = self._rocof.update(ft, np.array(self._pf))
            self._pt.clear()
            self._pf.clear()
            last = float(r[-1])
            self.rocof_estimate = last if math.isfinite(last) else None
            self.rocof_estimate_time = float(ft[-1]) - shift - self._rocof.group_delay

    def _integrate(self) -> None:
        if not self._t:
            return
        t, p, q = np.array(self._t), np.array(self._p), np.array(self._q)
        self._t.clear()
        self._p.clear()
        self._q.clear()
        e = self._energy
        e.update(t, p, q)
        imp, exp = e.import_kwh, e.export_kwh
        self.energy = {
            "EnergyImport": imp,
            "EnergyExport": exp,
            "EnergyNet": imp - exp,
            "ReactiveEnergyImport": e.reactive_import_kvarh,
            "ReactiveEnergyExport": e.reactive_export_kvarh,
        }
        self.fresh = True

    # --- state across restarts ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The integrated totals (`EnergyIntegrator.state()`), JSON-serialisable, with the frames
        collected since the last flush integrated first: a shutdown loses none of them."""
        self._integrate()
        return dict(self._energy.state())

    def restore_state(self, state: Mapping[str, Any], who: str) -> None:
        """Continue the totals of `state()` (the interval across the restart is not integrated).
        Before the first frame only, as it replaces the totals; ValueError naming `who` otherwise
        or for totals that do not fit (InputError), changing nothing."""
        if self._energy.last_timestamp is not None or self._t:
            raise ValueError(f"{who}: saved energy is restored before the first data frame")
        restored = EnergyIntegrator(max_gap=self._energy.max_gap)
        try:
            restored.restore_state(state)
        except InputError as e:
            raise ValueError(f"{who}: saved energy not restored: {e}") from None
        self._energy = restored

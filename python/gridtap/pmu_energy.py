"""What a PMU stream accumulates over its frames: energy integrated from P and Q, and gridtap's own
RoCoF estimate from FREQ (a diagnostic beside the PMU's DFREQ).

Both run frame by frame on the kernel time line (see `gridtap.pmu_time`: it runs through leap
seconds), one sample at a time into the Rust kernels (no arrays: a frame costs the same whether
or not it completes an interval, which keeps the receive path's tail short). The energy counters
of a frame are the totals integrated through it, published with it. The totals are what survives
a restart (`state()` / `restore_state()`, filed in the site's state file by
`gridtap.state.pmu_key`): a restored PMU continues its counters and they never go backwards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gridtap._core import EnergyIntegrator, InputError, RocofEstimator

__all__ = ["FrameIntegrals"]


class FrameIntegrals:
    """Energy and RoCoF of one stream: `add_power` and `add_frequency` per frame."""

    __slots__ = ("_delay", "_energy", "_rocof", "rocof_estimate", "rocof_estimate_time")

    def __init__(self, max_gap: float, rocof_window: float) -> None:
        self._energy = EnergyIntegrator(max_gap=max_gap)
        self._rocof = RocofEstimator(window=rocof_window)
        self._delay = float(self._rocof.group_delay)
        self.rocof_estimate: float | None = None
        self.rocof_estimate_time: float | None = None

    def add_power(self, kernel: float, p: float, q: float | None) -> dict[str, float]:
        """Integrate one frame's P and Q (W, VAR); the energy counters through it."""
        imp, exp, q_imp, q_exp = self._energy.push(kernel, p, 0.0 if q is None else q)
        return {
            "EnergyImport": imp,
            "EnergyExport": exp,
            "EnergyNet": imp - exp,
            "ReactiveEnergyImport": q_imp,
            "ReactiveEnergyExport": q_exp,
        }

    def add_frequency(self, kernel: float, freq: float, shift: float) -> None:
        """Update the RoCoF estimate with one frame's FREQ; `shift` (kernel − frame time) puts the
        estimate's time back on the frames' clock."""
        r = self._rocof.push(kernel, freq)
        if math.isfinite(r):
            self.rocof_estimate = r
            self.rocof_estimate_time = kernel - shift - self._delay

    # --- state across restarts ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The integrated totals (`EnergyIntegrator.state()`), JSON-serialisable."""
        return dict(self._energy.state())

    def restore_state(self, state: Mapping[str, Any], who: str) -> None:
        """Continue the totals of `state()` (the interval across the restart is not integrated).
        Before the first frame only, as it replaces the totals; ValueError naming `who` otherwise
        or for totals that do not fit (InputError), changing nothing."""
        if self._energy.last_timestamp is not None:
            raise ValueError(f"{who}: saved energy is restored before the first data frame")
        restored = EnergyIntegrator(max_gap=self._energy.max_gap)
        try:
            restored.restore_state(state)
        except InputError as e:
            raise ValueError(f"{who}: saved energy not restored: {e}") from None
        self._energy = restored

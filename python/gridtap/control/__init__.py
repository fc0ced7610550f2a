"""Consumers of the DAL that act: the edge cycle, its controllers and the ramp limiter.

    cycle = EdgeCycle(dal, [PhaseZeroExport(), PeakShaving(limit_w=8000)], ramp_w_per_s=1000)
    result = cycle.run_once()     # one snapshot → controllers → ramp → battery/SetActivePower_Lx

See `gridtap.control.controllers` for the prediction model, the composition rules and the battery
limits, and `gridtap.control.edge` for the safe output.
"""

from __future__ import annotations

from gridtap.control.controllers import (
    PHASES,
    BatteryLimits,
    Controller,
    Hold,
    PeakShaving,
    PhaseZeroExport,
    Proposal,
    Site,
)
from gridtap.control.edge import CycleResult, EdgeCycle
from gridtap.control.ramp import RampLimiter

__all__ = [
    "PHASES",
    "BatteryLimits",
    "Controller",
    "CycleResult",
    "EdgeCycle",
    "Hold",
    "PeakShaving",
    "PhaseZeroExport",
    "Proposal",
    "RampLimiter",
    "Site",
]

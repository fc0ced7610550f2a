"""Signal-processing kernels: RoCoF estimation, loss-of-mains trip, energy integration, counters.

Thin re-exports of the compiled classes; their documentation is in `gridtap._core` (see _core.pyi).
"""

from __future__ import annotations

from gridtap._core import CounterTracker, EnergyIntegrator, RocofEstimator, RocofTrip

__all__ = ["CounterTracker", "EnergyIntegrator", "RocofEstimator", "RocofTrip"]

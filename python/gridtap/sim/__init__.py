"""Simulation: deterministic synthetic site data (`GridScenario`) and simulated Modbus meters
(`MeterSimulator`) that serve it through any profile's register map."""

from __future__ import annotations

from gridtap.sim.scenario import FrequencyEvent, GridScenario, SiteState
from gridtap.sim.server import MeterSimulator, SunSpecLayout

__all__ = ["FrequencyEvent", "GridScenario", "MeterSimulator", "SiteState", "SunSpecLayout"]

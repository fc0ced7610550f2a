"""Simulation: deterministic synthetic site data (`GridScenario`), simulated Modbus meters
(`MeterSimulator`) that serve it through any profile's register map, and simulated PMUs
(`PmuSimulator`) that serve it as IEEE C37.118.2 streams."""

from __future__ import annotations

from gridtap.sim.pmu_server import PmuSimulator
from gridtap.sim.scenario import FrequencyEvent, GridScenario, SiteState
from gridtap.sim.server import MeterSimulator, SunSpecLayout

__all__ = ["FrequencyEvent", "GridScenario", "MeterSimulator", "PmuSimulator", "SiteState", "SunSpecLayout"]

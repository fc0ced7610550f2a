"""Simulation: deterministic synthetic site data (`GridScenario`) for development and tests."""

from __future__ import annotations

from gridtap.sim.scenario import FrequencyEvent, GridScenario, SiteState

__all__ = ["FrequencyEvent", "GridScenario", "SiteState"]

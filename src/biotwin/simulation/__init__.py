"""Simulation: single runs with exact events, and ensembles behind one backend interface."""

from biotwin.simulation.solve import METHODS, SimulationResult, simulate

__all__ = ["METHODS", "SimulationResult", "simulate"]

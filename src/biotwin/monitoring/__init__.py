"""Monitoring: golden batch, online MSPC (T2, SPE, contributions), sensor redundancy and
equipment health with remaining useful life, for any fed-batch process."""

from biotwin.monitoring.equipment import DegradationMonitor, pump_flow_ratio, response_time
from biotwin.monitoring.golden import GoldenEnvelope, golden_envelope
from biotwin.monitoring.mspc import BatchMonitor

__all__ = ["BatchMonitor", "DegradationMonitor", "GoldenEnvelope", "golden_envelope", "pump_flow_ratio",
           "response_time"]

"""Pile-on detection (issue 5): pure, Kafka-free library code shared by the detector service,
`abusewatch simulate`, `abusewatch replay` and the benchmarks."""

from abusewatch.detection.detector import ID_NAMESPACE, PileOnDetector
from abusewatch.detection.settings import DetectorSettings
from abusewatch.detection.state import TargetState
from abusewatch.detection.stores import AuthorIndex, StateStore, TargetStates

__all__ = ["ID_NAMESPACE", "AuthorIndex", "DetectorSettings", "PileOnDetector", "StateStore", "TargetState", "TargetStates"]

"""abusewatch: real-time detection of coordinated online harassment on a Kafka stream.

The flow, one module per step:
  ingest (services/*) -> validate (abusewatch.ingest.contract) -> score (abusewatch.scoring.inference)
  -> aggregate per target (abusewatch.detection) -> decide (abusewatch.policy) -> emit (services/*)
"""

__version__ = "0.1.0"

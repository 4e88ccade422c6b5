"""Creating abusewatch's topics, each with explicit partitions and the one record limit.

Tansu (the embedded broker) auto-creates topics with 4 partitions, and Apache Kafka with its own
default: every topic is created here first, by `abusewatch topics create` or a service at startup.
"""

from __future__ import annotations

from collections.abc import Iterable

from abusewatch.common.settings import KafkaSettings
from abusewatch.ingest.contract import TOPICS

# Topics every worker of a role reads in full, in order (no consumer group): one partition each.
# hash-bank-updates: every classifier worker applies every bank change (docs/media.md).
BROADCAST_TOPICS: frozenset[str] = frozenset({"hash-bank-updates"})


def create_topics(kafka: KafkaSettings, names: Iterable[str] = TOPICS, partitions: int | None = None) -> list[str]:
    """Create every topic with explicit partitions (ABUSEWATCH_KAFKA_PARTITIONS unless given; one
    for BROADCAST_TOPICS); existing topics are left as they are."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    wanted = {kafka.topic(name): 1 if name in BROADCAST_TOPICS else partitions or kafka.partitions for name in names}
    broadcast = {kafka.topic(name) for name in BROADCAST_TOPICS}
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id=f"{kafka.topic_prefix}abusewatch-admin")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(name=t, num_partitions=wanted[t],
                                 replication_factor=kafka.replication_factor,
                                 # The one record limit every client uses (KafkaSettings.max_message_bytes).
                                 topic_configs={"max.message.bytes": str(kafka.max_message_bytes),
                                                # live bank additions must outlive every restart
                                                **({"retention.ms": "-1"} if t in broadcast else {})})
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # created concurrently by another starter: fine
        return missing
    finally:
        admin.close()

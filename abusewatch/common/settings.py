"""Settings shared by every service: Kafka, topics, ingest limits, HTTP listeners."""

from __future__ import annotations

from abusewatch.common.config import ConfigError, setting, settings_class


@settings_class
class KafkaSettings:
    """Where the broker is and how topics are named and partitioned."""

    bootstrap: str = setting(
        "KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers (host:port[,host:port])."
    )
    topic_prefix: str = setting(
        "ABUSEWATCH_TOPIC_PREFIX", "", "Prefix for every topic, consumer group and app id (tests use a uuid)."
    )
    partitions: int = setting(
        "ABUSEWATCH_PARTITIONS", 4, "Partitions for every topic created by `abusewatch topics create`."
    )
    replication_factor: int = setting(
        "ABUSEWATCH_REPLICATION_FACTOR", 1, "Replication factor for created topics (3 on production Kafka)."
    )
    session_timeout_s: float = setting(
        "ABUSEWATCH_KAFKA_SESSION_TIMEOUT_S", 10.0, "Consumer group session timeout (seconds)."
    )
    heartbeat_interval_s: float = setting(
        "ABUSEWATCH_KAFKA_HEARTBEAT_S", 2.0, "Consumer group heartbeat interval (seconds)."
    )
    fetch_max_wait_ms: int = setting(
        "ABUSEWATCH_KAFKA_FETCH_MAX_WAIT_MS",
        100,
        "Longest a consumer's fetch waits at the broker for new records (Faust fixes it at 1,500). Apache "
        "Kafka answers as soon as a record is there, so this only paces idle polling; the embedded broker "
        "holds fetches for most of the wait, so each hop adds about half of it (docs/benchmarks.md).",
    )
    producer_linger_ms: int = setting(
        "ABUSEWATCH_KAFKA_PRODUCER_LINGER_MS",
        10,
        "How long the stream services' Faust producer waits to batch records for one partition (alerts, "
        "post-scores, table changelogs) before sending them; 0 sends each at once, and the detector then makes "
        "a produce request for nearly every state changelog record (docs/benchmarks.md). Adds at most this to "
        "an alert's or a score's delivery.",
    )
    producer_max_batch_bytes: int = setting(
        "ABUSEWATCH_KAFKA_PRODUCER_MAX_BATCH_BYTES",
        262_144,
        "Largest batch of records for one partition that the stream services' Faust producer sends in one "
        "request (Faust's default is 16 KiB); a record larger than this goes in a batch of its own. Capped at "
        "ABUSEWATCH_KAFKA_MAX_MESSAGE_BYTES, the largest request the producers send.",
    )
    table_store: str = setting(
        "ABUSEWATCH_TABLE_STORE",
        "memory://",
        "Faust table store: memory:// for dev/tests, rocksdb:// in production (survives restarts).",
    )
    data_dir: str = setting(
        "ABUSEWATCH_DATA_DIR", "var", "Directory for Faust state, the SQLite evidence locker and logs."
    )
    max_message_bytes: int = setting(
        "ABUSEWATCH_KAFKA_MAX_MESSAGE_BYTES",
        1_048_576,
        "Largest Kafka record any client sends or fetches: producers' max_request_size, consumers' "
        "per-partition fetch size, and max.message.bytes on every topic created. Keep it equal to the "
        "broker's message.max.bytes (Apache Kafka's default is about 1 MiB; the embedded broker has no "
        "limit). Ingest and dead-letter limits must fit inside it (checked at startup).",
    )

    def __post_init__(self) -> None:
        if self.producer_linger_ms < 0:
            raise ConfigError(f"ABUSEWATCH_KAFKA_PRODUCER_LINGER_MS must be 0 or more, got {self.producer_linger_ms}")
        if self.producer_max_batch_bytes < 1:
            raise ConfigError(
                f"ABUSEWATCH_KAFKA_PRODUCER_MAX_BATCH_BYTES must be at least 1, got {self.producer_max_batch_bytes}")

    def producer_batch_bytes(self) -> int:
        """The producer batch size the services use: the setting, capped at one request."""
        return min(self.producer_max_batch_bytes, self.max_message_bytes)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


@settings_class
class IngestSettings:
    """Validation limits applied to every message on the posts topic."""

    max_text_chars: int = setting(
        "ABUSEWATCH_MAX_TEXT_CHARS", 10_000, "Posts with longer text are dead-lettered (text_too_long)."
    )
    max_message_bytes: int = setting(
        "ABUSEWATCH_MAX_MESSAGE_BYTES", 65_536, "Raw messages larger than this are dead-lettered."
    )
    max_targets: int = setting(
        "ABUSEWATCH_MAX_TARGETS_PER_POST",
        50,
        "Most targets (reply-to user, then mentions) one post is aimed at. Further mentions are dropped "
        "and counted (abusewatch_targets_dropped_total), so one post cannot fan out to thousands of "
        "detector records.",
    )
    max_ahead_s: float = setting(
        "ABUSEWATCH_MAX_EVENT_TIME_AHEAD_S",
        3_600.0,
        "Posts whose created_at is further than this in the future (by the wall clock) are dead-lettered "
        "(event_time_skew) by the classifier and the detector, so a post dated years ahead cannot move the "
        "detector's event-time watermark. Past times are accepted (a backlog is all past; the detector "
        "counts posts older than its grace period as late).",
    )
    dedup_window: int = setting(
        "ABUSEWATCH_DEDUP_WINDOW",
        200_000,
        "How many recent post_ids each classifier worker remembers to dead-letter duplicates.",
    )

    def __post_init__(self) -> None:
        # A limit of 0 would turn every post into one that cannot be scored or watched.
        for env, value in (("ABUSEWATCH_MAX_TARGETS_PER_POST", self.max_targets),
                           ("ABUSEWATCH_MAX_TEXT_CHARS", self.max_text_chars),
                           ("ABUSEWATCH_MAX_MESSAGE_BYTES", self.max_message_bytes)):
            if value < 1:
                raise ConfigError(f"{env} must be at least 1, got {value}")
        if not self.max_ahead_s >= 0:  # NaN too: every comparison with it is false
            raise ConfigError(f"ABUSEWATCH_MAX_EVENT_TIME_AHEAD_S must be 0 or more, got {self.max_ahead_s}")


@settings_class
class ServiceSettings:
    """HTTP listeners (health, readiness, Prometheus metrics) and logging."""

    host: str = setting("ABUSEWATCH_HTTP_HOST", "127.0.0.1", "Address the services' HTTP servers bind.")
    classifier_port: int = setting("ABUSEWATCH_CLASSIFIER_PORT", 6066, "Classifier health/metrics port.")
    detector_port: int = setting("ABUSEWATCH_DETECTOR_PORT", 6067, "Detector health/metrics port.")
    actions_port: int = setting("ABUSEWATCH_ACTIONS_PORT", 6068, "Actions health/metrics port.")
    api_port: int = setting("ABUSEWATCH_API_PORT", 8080, "HTTP API port (Perspective-compatible + T&S reads).")
    log_level: str = setting("ABUSEWATCH_LOG_LEVEL", "info", "Log level for every service.")
    log_format: str = setting(
        "ABUSEWATCH_LOG_FORMAT",
        "json",
        "Log format on stderr: json (one object a line, with role and ids as fields) or text (for people).",
    )
    shutdown_timeout_s: float = setting(
        "ABUSEWATCH_SHUTDOWN_TIMEOUT_S",
        15.0,
        "Longest a service takes to stop after SIGTERM/SIGINT (finish the batch in hand, flush producers, "
        "commit offsets); past it the service exits at once with code 75, and what it had not committed is "
        "re-read by its successor. Keep it below the orchestrator's grace period (Kubernetes: 30 s).",
    )
    gc_gen0_threshold: int = setting(
        "ABUSEWATCH_GC_GEN0_THRESHOLD",
        50_000,
        "Allocations between collections of the garbage collector's youngest generation in the stream "
        "services (classifier, detector, actions; CPython's default is 700; 0 keeps it). They allocate a few "
        "dicts per message and hold large long-lived state, so at the default the collector took about a "
        "sixth of the detector's CPU (docs/benchmarks.md). What is loaded at startup is frozen out of "
        "collections too.",
    )

    def __post_init__(self) -> None:
        if self.gc_gen0_threshold < 0:
            raise ConfigError(f"ABUSEWATCH_GC_GEN0_THRESHOLD must be 0 or more, got {self.gc_gen0_threshold}")


@settings_class
class SupervisorSettings:
    """How `abusewatch run` restarts a role process that exited (docs/operations.md)."""

    restart_backoff_s: float = setting(
        "ABUSEWATCH_RESTART_BACKOFF_S", 1.0, "Delay before restarting a role after its first failure (seconds)."
    )
    restart_backoff_max_s: float = setting(
        "ABUSEWATCH_RESTART_BACKOFF_MAX_S",
        60.0,
        "The delay doubles with each failure in the crash-loop window, up to this (seconds).",
    )
    crash_loop_failures: int = setting(
        "ABUSEWATCH_CRASH_LOOP_FAILURES",
        5,
        "A role with this many failures within the window is reported as crash-looping (and still retried).",
    )
    crash_loop_window_s: float = setting(
        "ABUSEWATCH_CRASH_LOOP_WINDOW_S",
        300.0,
        "Failures older than this are forgotten: a role up this long restarts after the first delay again.",
    )


@settings_class
class ClassifierStreamSettings:
    """How the classifier service takes posts off the stream (the engine batches again by tokens)."""

    take_max: int = setting(
        "ABUSEWATCH_CLASSIFIER_TAKE_MAX", 512, "Most posts taken off the stream per agent iteration."
    )
    take_within_s: float = setting(
        "ABUSEWATCH_CLASSIFIER_TAKE_WITHIN_S", 0.05, "Longest wait to fill an agent iteration (seconds)."
    )
    concurrency: int = setting(
        "ABUSEWATCH_CLASSIFIER_CONCURRENCY",
        1,
        "Agent instances per worker. Above 1, batches of one partition may be validated out of order, so "
        "which copy of a duplicate post_id is scored is no longer the first; the engine overlaps "
        "tokenization and model work within a batch either way.",
    )


@settings_class
class DeadLetterSettings:
    """How much of an input a dead letter keeps (every service's dead letters)."""

    keep_bytes: int = setting(
        "ABUSEWATCH_DEAD_LETTER_KEEP_BYTES",
        65_536,
        "A dead letter keeps at most this many leading bytes of the original (base64), plus its full size "
        "and SHA-256; error messages are cut to 1,000 characters. A dead letter is then at most about "
        "4/3 of this plus 8.4 KiB, which must fit in ABUSEWATCH_KAFKA_MAX_MESSAGE_BYTES.",
    )
    ack_timeout_s: float = setting(
        "ABUSEWATCH_DEAD_LETTER_ACK_TIMEOUT_S",
        10.0,
        "Longest a service waits for the broker to acknowledge one dead letter; past it the dead letter "
        "counts as failed (abusewatch_dead_letters_failed_total, logged) and the service goes on, so an "
        "unavailable dead-letter topic cannot hold a batch for the producer's own timeout (20 minutes).",
    )

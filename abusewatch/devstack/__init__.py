"""The local stack: the embedded broker, `abusewatch run`'s process supervisor. Never used by a deployed service."""

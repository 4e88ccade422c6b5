"""Settings for the policy engine: which file, and how often to look for changes."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class PolicySettings:
    """Where the actions policy lives and how it is hot-reloaded."""

    policy_file: str = setting(
        "ABUSEWATCH_POLICY_FILE",
        "policy/default.yaml",
        "YAML policy (schemas/policy.v1.json). Validated at startup; an invalid file stops the service.",
    )
    reload_interval_s: float = setting(
        "ABUSEWATCH_POLICY_RELOAD_S",
        5.0,
        "How often the file's mtime is checked; a changed, invalid file is logged and the old policy kept.",
    )

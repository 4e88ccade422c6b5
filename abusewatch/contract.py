"""Compatibility: the contract moved to `abusewatch.ingest.contract` (docs/architecture.md). Code
that platforms wired in against `abusewatch.contract` keeps working: this name is the same module
object, not a copy."""

import sys

from abusewatch.ingest import contract

sys.modules[__name__] = contract

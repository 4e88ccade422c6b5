"""The HTTP API role: Perspective-compatible scoring and read-only case views (docs/api.md)."""

from abusewatch.api.app import create_api, run_api

__all__ = ["create_api", "run_api"]

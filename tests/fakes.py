"""Test doubles shared by unit and integration tests (never for Kafka, the model or PostgreSQL)."""

from __future__ import annotations


class NoCases:
    """A CaseReader with no campaigns or escalations, for API tests that do not read cases."""

    async def open_campaigns(self):
        return []

    async def target_history(self, target_id):
        return []

    async def escalation(self, escalation_id):
        return None

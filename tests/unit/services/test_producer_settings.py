"""The stream services' Faust producer batches (ABUSEWATCH_KAFKA_PRODUCER_LINGER_MS and _MAX_BATCH_BYTES):
with Faust's default of no linger, the detector sent a produce request for nearly every changelog record."""

from __future__ import annotations

import asyncio

import pytest

from abusewatch.common import config
from abusewatch.common.settings import KafkaSettings
from abusewatch.services.common import ServiceContext, create_app


def producer_settings(monkeypatch, tmp_path, **env: str) -> dict:
    monkeypatch.setenv("ABUSEWATCH_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def build() -> dict:
        app = create_app(ServiceContext.from_env("detector"))
        return app.producer._settings_default()  # what Faust gives the aiokafka producer it creates

    return asyncio.run(build())


def test_the_producer_lingers_and_batches_by_default(monkeypatch, tmp_path):
    settings = producer_settings(monkeypatch, tmp_path)
    assert settings["linger_ms"] == 10
    assert settings["max_batch_size"] == 262_144


def test_the_environment_sets_them(monkeypatch, tmp_path):
    settings = producer_settings(monkeypatch, tmp_path, ABUSEWATCH_KAFKA_PRODUCER_LINGER_MS="0",
                                 ABUSEWATCH_KAFKA_PRODUCER_MAX_BATCH_BYTES="16384")
    assert (settings["linger_ms"], settings["max_batch_size"]) == (0, 16_384)


@pytest.mark.parametrize("name, value", [("ABUSEWATCH_KAFKA_PRODUCER_LINGER_MS", "-1"),
                                         ("ABUSEWATCH_KAFKA_PRODUCER_MAX_BATCH_BYTES", "0")])
def test_out_of_range_values_fail_at_startup_naming_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=name):
        config.load(KafkaSettings)


def test_a_batch_never_exceeds_one_request(monkeypatch, tmp_path):
    settings = producer_settings(monkeypatch, tmp_path, ABUSEWATCH_KAFKA_MAX_MESSAGE_BYTES="100000")
    assert settings["max_batch_size"] == 100_000

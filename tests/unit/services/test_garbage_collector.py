"""The stream services' garbage-collector settings (services/serve.py, ABUSEWATCH_GC_GEN0_THRESHOLD)."""

from __future__ import annotations

import gc

import pytest

from abusewatch.common import config
from abusewatch.common.settings import ServiceSettings
from abusewatch.services.serve import tune_garbage_collector


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_the_threshold_is_set_and_what_exists_is_frozen(restore_gc):
    kept = object.__new__(type("Kept", (), {}))  # a tracked object that exists before the call
    tune_garbage_collector(12_345)
    assert gc.get_threshold()[0] == 12_345
    assert gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # frozen: outside every generation


def test_zero_keeps_the_interpreters_threshold(restore_gc):
    before = gc.get_threshold()
    tune_garbage_collector(0)
    assert gc.get_threshold() == before


def test_a_negative_threshold_is_refused():
    with pytest.raises(config.ConfigError, match="ABUSEWATCH_GC_GEN0_THRESHOLD must be 0 or more"):
        config.load(ServiceSettings, env={"ABUSEWATCH_GC_GEN0_THRESHOLD": "-1"})

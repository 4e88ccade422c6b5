"""The restart policy of `abusewatch run` (abusewatch.devstack.supervision), without processes."""

from __future__ import annotations

import pytest

from abusewatch.common import config
from abusewatch.common.settings import SupervisorSettings
from abusewatch.devstack.stack import describe_exit
from abusewatch.devstack.supervision import RestartPolicy, RoleRestarts

POLICY = RestartPolicy(base_s=1.0, max_s=8.0, crash_loop_failures=4, window_s=100.0)


def test_backoff_doubles_per_failure_up_to_the_maximum():
    restarts = RoleRestarts(POLICY)
    delays = [restarts.failed(now=t).delay_s for t in (0, 1, 2, 3, 4, 5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_role_with_k_failures_in_the_window_is_crash_looping_reported_once_and_still_retried():
    restarts = RoleRestarts(POLICY)
    decisions = [restarts.failed(now=t) for t in (0, 10, 20, 30, 40, 50)]
    assert [d.crash_looping for d in decisions] == [False, False, False, True, True, True]
    assert [d.newly_crash_looping for d in decisions] == [False, False, False, True, False, False]
    assert all(d.delay_s > 0 for d in decisions)  # never given up on
    assert restarts.crash_looping and restarts.restarts == 6


def test_failures_older_than_the_window_are_forgotten():
    restarts = RoleRestarts(POLICY)
    for t in (0, 1, 2):
        restarts.failed(now=t)
    # Up for more than a window since: back to the first delay, not crash-looping.
    decision = restarts.failed(now=150)
    assert decision.delay_s == 1.0 and decision.failures_in_window == 1 and not decision.crash_looping


def test_failures_spread_wider_than_the_window_never_count_as_crash_looping():
    restarts = RoleRestarts(POLICY)
    decisions = [restarts.failed(now=t * 40.0) for t in range(10)]
    assert max(d.failures_in_window for d in decisions) == 3
    assert not any(d.crash_looping for d in decisions)


def test_crash_looping_again_after_recovering_is_reported_again():
    restarts = RoleRestarts(POLICY)
    first = [restarts.failed(now=t) for t in (0, 1, 2, 3)]
    second = [restarts.failed(now=t) for t in (500, 501, 502, 503)]
    assert first[-1].newly_crash_looping and second[-1].newly_crash_looping
    assert not second[0].crash_looping


def test_a_huge_failure_count_does_not_overflow():
    assert POLICY.delay(5000) == POLICY.max_s


@pytest.mark.parametrize(
    "kwargs",
    [dict(base_s=0.0), dict(base_s=10.0, max_s=5.0), dict(crash_loop_failures=0), dict(window_s=0.0)],
)
def test_invalid_policies_are_rejected(kwargs):
    values = dict(base_s=1.0, max_s=8.0, crash_loop_failures=4, window_s=100.0) | kwargs
    with pytest.raises(ValueError):
        RestartPolicy(**values)


def test_the_policy_comes_from_the_settings():
    settings = config.load(SupervisorSettings, env={"ABUSEWATCH_RESTART_BACKOFF_S": "2",
                                                    "ABUSEWATCH_CRASH_LOOP_FAILURES": "3"})
    policy = RestartPolicy.from_settings(settings)
    assert policy.base_s == 2.0 and policy.crash_loop_failures == 3
    assert policy.max_s == SupervisorSettings.restart_backoff_max_s


def test_exits_are_described_by_code_or_signal():
    assert describe_exit(70) == "code 70"
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(-200) == "signal 200"

"""The detector-settings comparison tool (abusewatch.offline.compare_settings)."""

from __future__ import annotations

import json

import pytest

from abusewatch.offline.compare_settings import compare, main
from abusewatch.offline.simulate import ScenarioConfig, generate


def test_one_row_per_value_and_a_setting_that_changes_detection_shows(tmp_path):
    scenario = ScenarioConfig(seed=3, hours=0.5, targets=200, posts_per_s=4, pile_ons=3, hops=0, slow_burns=0,
                              persistent_abusers=0, viral_bursts=0)
    stream, truth, _ = generate(scenario, tmp_path)
    rows = compare(stream, truth, "min_abusive_share", ["0.3", "1.0"])
    assert [row["min_abusive_share"] for row in rows] == [0.3, 1.0]
    assert rows[0]["per_kind"]["pile_on"]["detected"] == 3
    # A share floor of 100 % (with coordination's 20 % the only way in) finds fewer or none.
    assert rows[1]["per_kind"]["pile_on"]["detected"] <= rows[0]["per_kind"]["pile_on"]["detected"]
    assert rows[1]["recall"] <= rows[0]["recall"]


def test_an_unknown_setting_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no detector setting 'nope'"):
        compare(tmp_path / "x", tmp_path / "y", "nope", ["1"])


def test_per_window_values_are_split_by_the_separator(tmp_path, monkeypatch, capsys):
    scenario = ScenarioConfig(seed=3, hours=0.5, targets=200, posts_per_s=4, pile_ons=3, hops=0, slow_burns=0,
                              persistent_abusers=0, viral_bursts=0)
    stream, _, _ = generate(scenario, tmp_path)
    monkeypatch.setattr("sys.argv", ["compare_settings", str(stream), "--setting", "coordinated_min_abusive_posts",
                                     "--values", "4,6,15;4,4,15", "--separator", ";"])
    assert main() == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["coordinated_min_abusive_posts"] for row in rows] == [["4", "6", "15"], ["4", "4", "15"]]
    assert all("delay_posts_median" in row["bursts"] for row in rows)

"""docs/model-card.md's language-ID figures ("Languages"): the classifier's rule at its default
settings on the hand-written posts of ten languages and on the TweetEval offensive val tweets.
Fails when the rule, its settings or py3langid move a documented figure."""

from __future__ import annotations

import pytest

from abusewatch.offline import data
from abusewatch.offline.bench.language import measure

pytestmark = [pytest.mark.evaluation]


def test_language_id_meets_its_targets_and_the_documented_figures():
    result = measure(data.default_datasets_dir())
    other, english = result["other_languages"], result["english"]
    assert other["accuracy_20_plus_chars"] >= 0.95  # the target
    assert other["accuracy_20_plus_chars"] == pytest.approx(0.983, abs=0.005)  # 224 of 228
    assert english["false_non_english"] == 5 and english["tweets"] == 1324
    assert english["slang_false_non_english"] == 0

"""The classify step: one output per input, duplicates dead-lettered, outputs match the contract.

The scorer here is a stand-in that returns fixed probabilities: this tests the step's bookkeeping;
the real model is exercised in tests/integration.
"""

import asyncio

import orjson

from abusewatch.ingest import contract
from abusewatch.scoring.classify import IncomingMessage, PostClassifier, RecentPostIds
from abusewatch.scoring.labels import LABELS
from abusewatch.scoring.language import LanguageIdentifier
from abusewatch.common.settings import IngestSettings

ENGLISH = LanguageIdentifier(["en"])


def _scorer(calls):
    async def score(texts):
        calls.append(list(texts))
        return [{label: 0.5 for label in LABELS} for _ in texts]

    return score


def _message(offset, **fields):
    post = {"post_id": f"p{offset}", "author_id": "a", "text": "hi @t", "created_at": "2026-11-21T09:00:00Z"}
    post.update(fields)
    return IncomingMessage(key=post["post_id"].encode(), value=orjson.dumps(post), partition=0, offset=offset)


def test_every_input_yields_exactly_one_output_and_valid_messages():
    calls = []
    classifier = PostClassifier(_scorer(calls), {"name": "m", "version": "1"}, IngestSettings(), language=ENGLISH)
    messages = [
        _message(0, reply_to_user_id="t"),
        _message(1, text=""),
        IncomingMessage(key=None, value=b"{oops", partition=0, offset=2),
        _message(3),
        _message(4, post_id="p0"),  # duplicate of the first
        _message(5, text="call me at +1 (415) 555-0132", reply_to_user_id="t"),
    ]
    batch = asyncio.run(classifier.classify(messages))
    assert len(batch.scores) + len(batch.dead_letters) == len(messages)
    assert [m["post_id"] for _, m in batch.scores] == ["p0", "p3", "p5"]
    assert sorted(rejection.code for _, rejection in batch.dead_letters) == [
        "duplicate_post_id",
        "invalid_json",
        "schema_violation",
    ]
    assert calls == [["hi @t", "hi @t", "call me at +1 (415) 555-0132"]]  # one batched call
    for _, message in batch.scores:
        contract.validate("post-scores", message)
    assert {message.offset for message, _ in batch.dead_letters} == {1, 2, 4}
    by_id = {m["post_id"]: m for _, m in batch.scores}
    assert by_id["p0"]["targets"] == ["t"]
    assert by_id["p5"]["doxxing"] == {"detected": True, "kinds": ["phone"]}
    assert by_id["p3"]["doxxing"]["detected"] is False


def test_recent_post_ids_is_bounded():
    recent = RecentPostIds(capacity=2)
    assert not recent.seen_before("a")
    assert not recent.seen_before("b")
    assert recent.seen_before("a")
    assert not recent.seen_before("c")  # evicts b, the least recently seen
    assert not recent.seen_before("b")


def test_the_threat_rule_layer_is_reported_for_posts_aimed_at_someone_only():
    classifier = PostClassifier(_scorer([]), {"name": "m", "version": "1"}, IngestSettings(), language=ENGLISH)
    messages = [_message(0, text="one more article and you get acid in your face", reply_to_user_id="t"),
                _message(1, text="one more article and you get acid in your face"),  # aimed at nobody
                _message(2, text="I'm going to kill it at the gym", reply_to_user_id="t")]
    by_id = {m["post_id"]: m for _, m in asyncio.run(classifier.classify(messages)).scores}
    assert by_id["p0"]["threats"] == {"detected": True, "kinds": ["conditional"]}
    assert by_id["p1"]["threats"] == {"detected": False, "kinds": []}
    assert by_id["p2"]["threats"] == {"detected": False, "kinds": []}
    for message in by_id.values():
        contract.validate("post-scores", message)


def test_the_extortion_rule_layer_is_reported_for_posts_aimed_at_someone_only():
    classifier = PostClassifier(_scorer([]), {"name": "m", "version": "1"}, IngestSettings(), language=ENGLISH)
    text = "pay $500 by tonight or your pictures go to your school"
    messages = [_message(0, text=text, reply_to_user_id="t"), _message(1, text=text),
                _message(2, text="send me the pics from the wedding!", reply_to_user_id="t")]
    by_id = {m["post_id"]: m for _, m in asyncio.run(classifier.classify(messages)).scores}
    assert by_id["p0"]["extortion"] == {"detected": True, "kinds": ["intimate_images", "deadline"]}
    assert by_id["p1"]["extortion"] == {"detected": False, "kinds": []}
    assert by_id["p2"]["extortion"] == {"detected": False, "kinds": []}
    for message in by_id.values():
        contract.validate("post-scores", message)


def test_every_post_score_says_its_language_and_whether_the_model_reads_it():
    classifier = PostClassifier(_scorer([]), {"name": "m", "version": "1"}, IngestSettings(), language=ENGLISH)
    messages = [_message(0, text="ich bringe dich um, du wirst es bereuen", reply_to_user_id="t"),
                _message(1, text="@t nobody wants you here, log off", reply_to_user_id="t"),
                _message(2, text="kys loser", reply_to_user_id="t"),
                _message(3, text="ok 👍", lang="pt-BR", reply_to_user_id="t")]
    by_id = {m["post_id"]: m for _, m in asyncio.run(classifier.classify(messages)).scores}
    for message in by_id.values():
        contract.validate("post-scores", message)
    german = by_id["p0"]["language"]
    assert (german["detected"], german["supported"], german["source"]) == ("de", False, "detected")
    assert german["confidence"] >= ENGLISH.settings.min_confidence
    assert by_id["p1"]["language"]["detected"] == "en" and by_id["p1"]["language"]["supported"] is True
    # Too short to identify: the model's own language, not "unsupported".
    assert by_id["p2"]["language"] == {"detected": "en", "confidence": None, "supported": True, "source": "assumed"}
    # Too short, but the platform tagged it: the tag decides.
    assert by_id["p3"]["language"] == {"detected": "pt", "confidence": None, "supported": False, "source": "platform"}


def test_the_hostility_rule_layer_is_reported_for_posts_aimed_at_someone_only():
    classifier = PostClassifier(_scorer([]), {"name": "m", "version": "1"}, IngestSettings(), language=ENGLISH)
    messages = [_message(0, text="log off, nobody asked", reply_to_user_id="t"), _message(1, text="log off"),
                _message(2, text="I need to log off for the night", reply_to_user_id="t")]
    by_id = {m["post_id"]: m for _, m in asyncio.run(classifier.classify(messages)).scores}
    assert by_id["p0"]["hostility"] == {"detected": True, "kinds": ["dismissal"]}
    assert by_id["p1"]["hostility"] == {"detected": False, "kinds": []}
    assert by_id["p2"]["hostility"] == {"detected": False, "kinds": []}
    for message in by_id.values():
        contract.validate("post-scores", message)

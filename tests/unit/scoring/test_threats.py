"""The threat rule layer (abusewatch.scoring.threats): the structure of a direct threat, and the
same words used harmlessly. Its figures on the written corpus are in tests/evaluation."""

from __future__ import annotations

import pytest

from abusewatch.ingest import contract
from abusewatch.scoring.threats import KINDS, detect_threat

THREATS = {
    "I will kill you": "intent_to_harm",
    "i'm gonna stab u": "intent_to_harm",
    "we're coming for you": "intent_to_harm",
    "I'll put a bullet in your head": "intent_to_harm",
    "I'm going to find you and break your legs": "intent_to_harm",
    "I'll blow your brains out": "intent_to_harm",
    "I will throw acid at your face": "intent_to_harm",
    "watch your back tonight": "fate",
    "your days are numbered": "fate",
    "you're dead": "fate",
    "I know where you live": "knows_victim",
    "we know where your kids go to school": "knows_victim",
    "it would be a shame if something happened to your kids": "knows_victim",
    "one more article and you get acid in your face": "conditional",
}
HARMLESS = [
    "I'm going to kill it at the gym",
    "you're killing me lol",
    "I'd kill for a pizza right now",
    "I'll shoot you a message later",
    "we will destroy you in the finals",
    "I'll beat you at chess",
    "I will end you in fortnite",
    "I know where you live! come over for coffee",
    "I will find you a better job",
    "I would never hurt you",
    "he said 'I will kill you' and I reported it",
    "telling someone 'I will hurt you' is never ok",
    "police said the man threatened to kill his neighbour",
    "You are dead to me!",
    "you can always sleep when you are dead",
    "Would you rather name your next kid Dominique?",
    "you'll never see eye to eye with him",
    # Friendly replies with everyday verbs threats also use (found in review):
    "I've seen your video, great work!",
    "We have been following your work for years",
    "I'll visit you next week!",
    "I'll hang out with you tomorrow",
    "I'll cut you some slack",
    "We'll get you home safe",
    "I'm gonna get your mom a present",
    "you're next in line at the counter",
    "you will be dead tired after that hike",
    "Watch your back on that ladder!",
    "Keep smiling and you'll never regret it",
    "If you buy this and you regret it, just return it",
    "I'm coming for you at 8 to pick you up",
    "I will break the news to your mom gently",
    "I'll break your record next season",
]



def test_the_kinds_are_the_schema_enum_in_order():
    enum = contract.schema_for("post-scores")["properties"]["threats"]["properties"]["kinds"]["items"]["enum"]
    assert list(KINDS) == enum


@pytest.mark.parametrize("text", sorted(THREATS))
def test_a_direct_threat_is_found_with_its_kind(text):
    result = detect_threat(text)
    assert result.detected and THREATS[text] in result.kinds, result


@pytest.mark.parametrize("text", HARMLESS)
def test_the_same_words_used_harmlessly_are_left_alone(text):
    assert not detect_threat(text).detected


def test_apostrophes_and_case_do_not_matter():
    assert detect_threat("I’LL KILL YOU").detected and detect_threat("").detected is False

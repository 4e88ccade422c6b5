"""The extortion rule layer (abusewatch.scoring.extortion): a demand with leverage, and the same
words in paying someone back, asking for photos, business, and reporting or warning about
blackmail. Its figures on the written corpus are in tests/evaluation."""

from __future__ import annotations

import json

import pytest

from abusewatch.ingest import contract
from abusewatch.scoring.extortion import KINDS, detect_extortion

EXTORTION = {
    "pay $500 or your pictures go to your school": ("intimate_images",),
    "send me 300 euros by tonight or I post your nudes everywhere": ("intimate_images", "deadline"),
    "if you don't pay 0.1 btc within 24 hours your family will see the video": ("intimate_images", "deadline"),
    "Send more pics or I'll share the ones I have with all your followers": ("intimate_images",),
    "pay up or I leak your texts to your wife": ("private_messages",),
    "give me $1000 or I publish your home address": ("personal_data",),
    "transfer $2k or your boss finds out about the affair": ("secrets",),
    "i have your photos. send $200 or everyone gets them": ("intimate_images",),
    "unless you send 500 dollars I'm sending the screenshots to your parents": ("private_messages",),
    # Words that mark a report elsewhere, in the extortionist's own mouth:
    "this is your last warning: pay $500 or I post your nudes": ("intimate_images",),
    "pay $500 or I post your nudes to all your followers. if you go to the police they go out anyway": ("intimate_images",),
    "pay $500 or I post your nudes. dont bother reporting me": ("intimate_images",),
    'pay $500 or I post your "private" pics': ("intimate_images",),
}
HARMLESS = [
    "I'll send you the $20 tomorrow, thanks for dinner",
    "pay me back whenever, no rush",
    "send me the pics from the wedding!",
    "I'll post the photos from the party tonight",
    "pay the invoice by friday or we will send it to collections",
    "someone is threatening to leak my pics unless I pay $500. how do I report this?",
    "PSA: if anyone says they will send your nudes to your family unless you pay, never pay and report them",
    "police arrested a man who demanded $500 or he would post the photos",
    "my friend is being blackmailed: he says pay or he shares her videos. what do I do?",
    'he wrote "pay me or I post your pics" and I blocked him',
    "congrats! send me the photos when you can",
    "I don't see anything wrong with that message. I would normally send texts like that. Give it another go",
    "",
]


@pytest.mark.parametrize("text", sorted(EXTORTION))
def test_extortion_is_found_with_its_leverage(text):
    found = detect_extortion(text)
    assert found.detected and found.kinds == EXTORTION[text]


@pytest.mark.parametrize("text", HARMLESS)
def test_the_same_words_used_harmlessly_are_left_alone(text):
    assert not detect_extortion(text).detected


def test_kinds_are_the_schemas_enum_in_order():
    schema = json.loads((contract.SCHEMA_DIR / "post-scores.v1.json").read_text())
    assert tuple(schema["properties"]["extortion"]["properties"]["kinds"]["items"]["enum"]) == KINDS


def test_hostile_long_input_finishes():
    # Many demands and exposures: the windowed pairing must not go quadratic in the text's length.
    assert detect_extortion("pay $5 or I post it. " * 500 + "your nudes").detected

"""The text normalisation the model reads, and the tokenizer that applies it on every path."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from abusewatch.scoring.model.network import pretrained_encoder_dir
from abusewatch.scoring.model.text import NormalisingTokenizer, mentions_emoji_v1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@user @user @USER @bob_1 you are trash", "@user you are trash"),
        ("thanks @alice and @bob", "thanks @user and @user"),
        ("write to bob@example.com", "write to bob@example.com"),  # an e-mail is not a mention
        ("lol 😂", "lol  face with tears of joy "),
        ("🤦🏾‍♀️", " woman facepalming medium-dark skin tone "),  # one name for the whole ZWJ sequence
        ("press 1️⃣", "press  keycap 1 "),
        ("snake_case and ’curly quotes’", "snake_case and ’curly quotes’"),  # no emoji: untouched
        ("", ""),
    ],
)
def test_mentions_emoji_v1(text, expected):
    assert mentions_emoji_v1(text) == expected


@pytest.fixture(scope="module")
def base_tokenizer():
    return AutoTokenizer.from_pretrained(str(pretrained_encoder_dir()), local_files_only=True)


def test_tokenizer_normalises_single_texts_and_lists(base_tokenizer):
    tokenizer = NormalisingTokenizer(base_tokenizer, "mentions-emoji-v1")
    text = "@a @b @c @d @e @f @g @h you idiot 😡"
    expected = base_tokenizer(mentions_emoji_v1(text))["input_ids"]
    assert tokenizer(text)["input_ids"] == expected
    assert tokenizer([text, "hi"], truncation=True, max_length=64)["input_ids"][0] == expected
    assert base_tokenizer.unk_token_id not in expected
    assert tokenizer.pad_token_id == base_tokenizer.pad_token_id  # everything else is the tokenizer's


def test_none_leaves_text_alone_and_rewrapping_replaces_the_normalisation(base_tokenizer):
    plain = NormalisingTokenizer(base_tokenizer, "none")
    assert plain("lol 😂")["input_ids"] == base_tokenizer("lol 😂")["input_ids"]
    rewrapped = NormalisingTokenizer(NormalisingTokenizer(base_tokenizer, "none"), "mentions-emoji-v1")
    assert rewrapped.tokenizer is base_tokenizer
    assert rewrapped("lol 😂")["input_ids"] == base_tokenizer("lol face with tears of joy")["input_ids"]


def test_unknown_normalisation_is_refused(base_tokenizer):
    with pytest.raises(ValueError, match="unknown text normalisation 'lowercase'"):
        NormalisingTokenizer(base_tokenizer, "lowercase")

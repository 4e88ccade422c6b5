"""What the model reads: post text normalised the same way in training, evaluation and serving.

The normalisation is part of the artifact (`text_normalisation` in abusewatch.json) and is applied
by the artifact's tokenizer itself, so no path that tokenizes (training, calibration, `abusewatch
eval`, the inference engine, the bench's naive baseline) can skip it or apply a different one.

Why "mentions-emoji-v1": on TweetEval offensive val, 11.6% of tweets ran past the 64-token limit,
mostly on runs of reply mentions ("@user @user @user ...", each 2 tokens), which cut off the words
that carry the abuse; and 12% held emoji, which the uncased WordPiece vocabulary reads as [UNK].
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import emoji

# A handle not preceded by a word character, so the domain of an e-mail address is left alone.
MENTION = re.compile(r"(?<!\w)@\w+")
MENTION_RUN = re.compile(r"@user(?:\s+@user)+")
# emoji's own scan is pure Python and slow on every post; this set cheaply finds the posts that may
# hold one: a non-ASCII character that starts an emoji, or a mark that makes a digit or # into one.
EMOJI_STARTS = frozenset({key[0] for key in emoji.EMOJI_DATA if not key[0].isascii()} | {"\u20e3", "\ufe0f"})


def _emoji_name(chars: str, data: dict[str, Any]) -> str:
    return " " + data["en"].strip(":").replace("_", " ") + " "


def mentions_emoji_v1(text: str) -> str:
    """Every handle becomes `@user` (as in the anonymised training tweets), a run of them one
    `@user`, and each emoji its English name ("😂" -> "face with tears of joy")."""
    text = MENTION_RUN.sub("@user", MENTION.sub("@user", text))
    return emoji.replace_emoji(text, replace=_emoji_name) if not EMOJI_STARTS.isdisjoint(text) else text


def unchanged(text: str) -> str:
    return text


TEXT_NORMALISATIONS: dict[str, Callable[[str], str]] = {
    "none": unchanged,  # artifacts up to 0.5.0
    "mentions-emoji-v1": mentions_emoji_v1,
}
DEFAULT_TEXT_NORMALISATION = "mentions-emoji-v1"


class NormalisingTokenizer:
    """A fast tokenizer that normalises its text first; every other attribute is the tokenizer's."""

    def __init__(self, tokenizer: Any, normalisation: str) -> None:
        if normalisation not in TEXT_NORMALISATIONS:
            known = ", ".join(TEXT_NORMALISATIONS)
            raise ValueError(f"unknown text normalisation {normalisation!r} (known: {known})")
        # Re-wrapping (a run continued from a parent artifact) replaces the parent's normalisation.
        self.tokenizer = tokenizer.tokenizer if isinstance(tokenizer, NormalisingTokenizer) else tokenizer
        self.normalisation = normalisation
        self._normalise = TEXT_NORMALISATIONS[normalisation]

    def __call__(self, text: str | list[str], *args: Any, **kwargs: Any) -> Any:
        normalised = self._normalise(text) if isinstance(text, str) else [self._normalise(t) for t in text]
        return self.tokenizer(normalised, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tokenizer, name)

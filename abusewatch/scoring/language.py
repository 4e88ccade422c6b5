"""Which language a post is in, and whether the model reads it: once per post, beside its scores.

The classifier is trained on English only (docs/model-card.md, "Languages"); its scores for a
German threat are not low, they are meaningless. So every post-scores message says which language
its scores were taken to be in and whether the model supports it, and the detector and the policy
treat the scores of an unsupported language as unknown, not as benign.

How the language is decided (the same rule for the classifier and the Perspective endpoint):
  1. py3langid (a naive Bayes model over byte n-grams that ships in its wheel, 140 languages) reads
     the text without @handles and URLs, which are no language. When at least
     ABUSEWATCH_LANGUAGE_MIN_CHARS characters remain and its probability for its best language is
     at least ABUSEWATCH_LANGUAGE_MIN_CONFIDENCE, that language it is (source "detected").
  2. Otherwise (too short, or unsure: slang, emoji, a name) the platform's `lang` tag decides when
     it names a language (source "platform"): platforms tag from more than the text (the author's
     history and settings).
  3. Otherwise the post is taken to be in the model's first language (source "assumed"). A short,
     unclear post on an English platform is far more often English slang than anything else, and
     calling it unsupported would turn English abuse into "unknown".
Content wins over the platform's tag when the detector is sure, because some platforms tag posts
with the author's interface language rather than the post's.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any

from abusewatch.common.config import setting, settings_class

DETECTED, PLATFORM, ASSUMED = "detected", "platform", "assumed"

# Tags that name no language: undetermined, no linguistic content, multiple, and the private-use
# codes platforms use for posts of only media, hashtags, cashtags or mentions (q*).
_NO_LANGUAGE = frozenset({"und", "zxx", "mul", "mis"})
_PRIVATE_USE = re.compile(r"^q[a-t][a-z]$")
# Not language: handles, links, and the # of a hashtag (the word after it is kept).
_NOT_TEXT = re.compile(r"@\w+|https?://\S+|www\.\S+|#")


@settings_class
class LanguageSettings:
    """How the classifier and the Perspective endpoint decide a post's language (abusewatch.scoring.language)."""

    min_confidence: float = setting(
        "ABUSEWATCH_LANGUAGE_MIN_CONFIDENCE",
        0.3,
        "Language ID probability at or above which the detected language is taken as the post's; below it "
        "the platform's `lang` tag, or else the model's own language, is used (docs/model-card.md, "
        "\"Languages\": the trade-off against English slang called foreign).",
    )
    min_chars: int = setting(
        "ABUSEWATCH_LANGUAGE_MIN_CHARS",
        10,
        "Posts with fewer characters (after @handles and URLs are removed) are not language-identified: "
        "the platform's `lang` tag, or else the model's own language, is used.",
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PostLanguage:
    """The language a post's scores are taken to be in."""

    code: str  # lower-case ISO 639-1 where the language has one (py3langid's labels), else 639-3
    confidence: float | None  # the detector's probability for `code`; None when it did not decide
    supported: bool  # whether the model reads `code`
    source: str  # DETECTED, PLATFORM or ASSUMED (see the module docstring)

    def to_field(self) -> dict[str, Any]:
        """The post-scores/v1 `language` field."""
        return {
            "detected": self.code,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "supported": self.supported,
            "source": self.source,
        }


def platform_language(tag: str | None) -> str | None:
    """The language a platform's `lang` tag names ("en-GB" -> "en"), or None for no language."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    if not primary.isalpha() or not 2 <= len(primary) <= 3:
        return None
    if primary in _NO_LANGUAGE or _PRIVATE_USE.match(primary):
        return None
    return primary


def supported_by_field(field: dict[str, Any] | None) -> bool:
    """Whether a post-scores message's `language` field says the model reads the post. Messages
    written before the field existed have none and are read as before: supported."""
    return field is None or bool(field.get("supported", True))


def unsupported_reason(field: dict[str, Any]) -> str:
    """Why a post's scores are unknown, for decision reasons and alert reasons."""
    return f"language {field.get('detected')} not supported by the model"


def load_model() -> None:
    """Read the language model now (services call it at startup, off their event loop)."""
    _identifier()


@functools.cache
def _identifier():
    # The model is read once per process (decompressing it takes about a second) and never changed.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier as NaiveBayes

    return NaiveBayes.from_model_file(MODEL_FILE, norm_probs=True)


class LanguageIdentifier:
    """Decides each post's language for a model that reads `supported` (its first is its main one)."""

    def __init__(self, supported: Sequence[str], settings: LanguageSettings | None = None) -> None:
        if not supported:
            raise ValueError("a model must name at least one language it reads")
        self.supported = tuple(code.lower() for code in supported)
        self._supported = frozenset(self.supported)
        self.settings = settings if settings is not None else LanguageSettings()
        self._model = _identifier()

    def identify(self, text: str, platform_tag: str | None = None) -> PostLanguage:
        content = _NOT_TEXT.sub(" ", text).strip()
        settings = self.settings
        confidence = None
        if len(content) >= settings.min_chars:
            code, confidence = self._model.classify(content)
            if confidence >= settings.min_confidence and code not in _NO_LANGUAGE:
                return PostLanguage(code, confidence, code in self._supported, DETECTED)
        tagged = platform_language(platform_tag)
        if tagged is not None:
            return PostLanguage(tagged, None, tagged in self._supported, PLATFORM)
        return PostLanguage(self.supported[0], None, True, ASSUMED)

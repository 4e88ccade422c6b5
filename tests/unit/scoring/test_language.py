"""Language identification (abusewatch.scoring.language) over the real py3langid model."""

import json

import pytest

from abusewatch.common import resources
from abusewatch.scoring.language import (
    ASSUMED,
    DETECTED,
    PLATFORM,
    LanguageIdentifier,
    LanguageSettings,
    platform_language,
    supported_by_field,
)
from abusewatch.scoring.model.artifact import manifest_languages

ENGLISH = LanguageIdentifier(["en"])


@pytest.mark.parametrize(
    "text, code",
    [
        ("ich bringe dich um, und deine Familie auch", "de"),
        ("Ich weiß, wo du wohnst, pass lieber auf dich auf.", "de"),
        ("je vais te tuer, je sais où tu habites", "fr"),
        ("te voy a matar, sé dónde vives", "es"),
        ("@maria ti ammazzo, so dove abiti", "it"),
    ],
)
def test_threats_in_other_languages_are_detected_and_unsupported(text, code):
    language = ENGLISH.identify(text)
    assert (language.code, language.supported, language.source) == (code, False, DETECTED)


@pytest.mark.parametrize(
    "text",
    ["lmaooo ur so dumb 😂😂", "stfu nobody asked", "kys loser", "ratio + L + cope", "yo @jay_99 u up?",
     "nah fr fr no cap", "get rekt noob", "@user @user ur mom lol", "dead 💀💀💀", "i will kill you"],
)
def test_short_english_slang_stays_english(text):
    language = ENGLISH.identify(text)
    assert language.code == "en" and language.supported


def test_too_short_or_unsure_posts_take_the_platform_tag_then_the_model_language():
    assert ENGLISH.identify("hallo").source == ASSUMED  # under min_chars
    tagged = ENGLISH.identify("hallo", "de-AT")
    assert (tagged.code, tagged.supported, tagged.source, tagged.confidence) == ("de", False, PLATFORM, None)
    assert ENGLISH.identify("hallo", "und").source == ASSUMED  # a tag that names no language
    # A confident detection wins over the platform's tag (some tag the author's interface language).
    assert ENGLISH.identify("Ich weiß, wo du wohnst, pass lieber auf dich auf.", "en").code == "de"


def test_the_thresholds_are_settings():
    strict = LanguageIdentifier(["en"], LanguageSettings(min_confidence=1.01, min_chars=10))
    assert strict.identify("Ich weiß, wo du wohnst, pass lieber auf dich auf.").source == ASSUMED
    long_only = LanguageIdentifier(["en"], LanguageSettings(min_confidence=0.3, min_chars=1000))
    assert long_only.identify("Ich weiß, wo du wohnst, pass lieber auf dich auf.").source == ASSUMED


def test_a_model_that_reads_german_supports_german_posts():
    bilingual = LanguageIdentifier(["en", "de"])
    assert bilingual.identify("Ich weiß, wo du wohnst, pass lieber auf dich auf.").supported is True


def test_platform_tags():
    assert platform_language("en-GB") == "en"
    assert platform_language("pt_BR") == "pt"
    assert platform_language("DE") == "de"
    for no_language in (None, "", "und", "zxx", "qme", "qht", "x", "1234"):
        assert platform_language(no_language) is None


def test_messages_without_the_field_read_as_supported():
    assert supported_by_field(None) is True
    assert supported_by_field({"detected": "de", "confidence": 0.9, "supported": False, "source": "detected"}) is False


def test_the_shipped_model_says_it_reads_english():
    manifest = json.loads((resources.model_dir("") / resources.MODEL_MANIFEST).read_text(encoding="utf-8"))
    assert manifest_languages(manifest) == ("en",)
    assert manifest_languages({}) == ("en",)  # artifacts from before the field: English-only
    with pytest.raises(ValueError):
        manifest_languages({"languages": []})


def test_a_model_must_read_some_language():
    with pytest.raises(ValueError):
        LanguageIdentifier([])

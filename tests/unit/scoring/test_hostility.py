"""The hostility rule layer (abusewatch.scoring.hostility): hostile-but-clean replies, and the same
words used harmlessly. Its figures on real posts and on a blind written set are in docs/detection.md."""

from __future__ import annotations

import pytest

from abusewatch.ingest import contract
from abusewatch.scoring.hostility import _RULES, KINDS, detect_hostility

HOSTILE = {
    "log off": "dismissal",
    "@someone just log off lol": "dismissal",
    "delete your account": "dismissal",
    "nobody asked": "dismissal",
    "who asked?": "dismissal",
    "touch grass": "dismissal",
    "stay mad 👋": "dismissal",
    "byeeee": "dismissal",
    "no one wants you here": "dismissal",
    "opinion discarded": "dismissal",
    "worst take of the year": "contempt",
    "we'll make sure everyone sees who you are": "menace",
    "ratio": "contempt",
    "L + ratio": "contempt",
    "lol pathetic": "contempt",
    "you're a clown": "contempt",
    "what a joke": "contempt",
    "imagine posting this": "contempt",
    "you should be ashamed of yourself": "contempt",
    "everyone is laughing at you": "contempt",
    "skill issue": "contempt",
    "we know who you are": "menace",
    "we found your linkedin": "menace",
    "we're all watching you": "menace",
    "your employer will hear about this": "menace",
    "tagged your boss": "menace",
    "enjoy your last week at that job": "menace",
    "hope you like unemployment": "menace",
    "no one will ever hire you": "menace",
    "say goodbye to your career": "menace",
    "you're finished": "menace",
    "you picked the wrong people": "menace",
    "this won't end well for you": "menace",
    "you'll regret this": "menace",
    "you've been warned": "menace",
    "keep talking and see what happens": "menace",
    "better lock your doors tonight": "menace",
    "you brought this on yourself": "menace",
    "you won't be here much longer": "menace",
    "hope your boss sees this": "menace",
    "who even are you lol": "contempt",
    "you fell off": "contempt",
    "not reading all that": "contempt",
    "🤡🤡🤡": "contempt",
    "you're cooked": "menace",
    "i think you should log off": "dismissal",
    "i'm begging you, shut up": "dismissal",
    "log off, you posted garbage": "dismissal",
    "nobody asked'": "dismissal",
    "hasbeen": "contempt",
    "this is embarrassing for you": "contempt",
    "everyone will know what you did": "menace",
    "nobody will ever work with you again": "menace",
}
HARMLESS = [
    "I need to log off for the night, see you all tomorrow",
    "time for me to get off the app and sleep",
    "what's the ratio of flour to water in this recipe?",
    "finished the book last night, loved it",
    "we're watching the stream now!",
    "I'm so embarrassed I missed your talk",
    "congrats on the new job!",
    "welcome to the app!",
    "I respectfully disagree: the data on immigration shows the opposite.",
    "I think you're mistaken on this, happy to share sources.",
    "you're done with the exam? congrats!",
    "my boss will see this presentation tomorrow, wish me luck",
    "people telling her to log off is harassment",
    "reported the accounts saying 'we know who you are'",
    "can't wait for your next book!",
    "what's your next project?",
    "our next stream is friday",
    "check your history tab",
    "your joke made my day",
    "please contact our fraud department",
    "congrats, you deserve it!!",
    "see you soon!",
    "you're finished! congrats on the marathon",
    "you're next in line",
    "enjoy your last day of vacation!",
    "we'll make sure you get the refund",
    "ok bye love you",
    "please delete this if it's wrong",
    "delete the app and reinstall it",
    "uninstall and reinstall",
    "time to log off and sleep",
    "",
]


def test_the_kinds_are_the_schema_enum_in_order():
    enum = contract.schema_for("post-scores")["properties"]["hostility"]["properties"]["kinds"]["items"]["enum"]
    assert list(KINDS) == enum


@pytest.mark.parametrize("text", sorted(HOSTILE))
def test_a_hostile_reply_is_found_with_its_kind(text):
    result = detect_hostility(text)
    assert result.detected and HOSTILE[text] in result.kinds, result


@pytest.mark.parametrize("text", HARMLESS)
def test_the_same_words_used_harmlessly_are_left_alone(text):
    assert not detect_hostility(text).detected, detect_hostility(text)


def test_case_apostrophes_and_mentions_do_not_matter():
    assert detect_hostility("@a @b YOU’RE A CLOWN").kinds == ("contempt",)


def test_every_rule_is_reached_through_one_of_its_anchors():
    # A pattern whose anchors it can match without is silently unreachable for those texts: each
    # HOSTILE example that a rule's pattern matches must hold one of that rule's anchor words.
    from abusewatch.scoring.hostility import _MENTION, _WORD
    from abusewatch.scoring.threats import normalise

    reached = set()
    for text in HOSTILE:
        normalised = normalise(_MENTION.sub(" ", text))
        words = {"bye" if w.startswith("bye") else w for w in _WORD.findall(normalised)}
        for index, (_, anchors, pattern) in enumerate(_RULES):
            if pattern.search(normalised):
                assert not anchors.isdisjoint(words), (text, sorted(anchors)[:5])
                reached.add(index)
    assert reached == set(range(len(_RULES))), sorted(set(range(len(_RULES))) - reached)

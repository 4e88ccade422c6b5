"""Rule-based detection of direct threats against a person, beside the model (as doxxing is).

`detect_threat(text)` looks for the structure of a threat, not for violent words:

- `intent_to_harm`: a first-person intent ("I'll", "we are going to", "I'm coming to") followed
  closely by a harm verb or means ("kill", "hurt", "acid", "a bullet") and a reference to the
  victim ("you", "your kids", "your house");
- `fate`: a second-person fate ("you will die", "you're dead", "your days are numbered", "watch your
  back", "sleep with one eye open");
- `knows_victim`: knowledge of the victim's home, family, car or workplace, used as menace ("I know
  where you live", "we know your address", "it would be a shame if something happened to your kids");
- `conditional`: a condition on the victim's behaviour followed by harm ("one more article and you
  get acid in your face", "keep talking and you'll end up in a ditch").

The same words used harmlessly are left alone where the structure says so: figurative objects
("kill it at the gym", "you're killing me"), games ("I'll destroy you in the finals", "beat you at
chess"), negation ("I would never hurt you"), invitations ("I know where you live! come over for
coffee"), and quoting or reporting a threat ("he said 'I will kill you' and I reported it"). What it
catches and misses is measured in docs/threats.md. Like doxxing, the classifier reports a threat
only for a post aimed at someone (a reply-to or a mention).
"""

from __future__ import annotations

import dataclasses
import re

# The enum of schemas/post-scores.v1.json threats.kinds, in schema order (a unit test checks it).
KINDS: tuple[str, ...] = ("intent_to_harm", "fate", "knows_victim", "conditional")


@dataclasses.dataclass(frozen=True, slots=True)
class ThreatResult:
    detected: bool
    kinds: tuple[str, ...]
    spans: tuple[tuple[str, int, int], ...]  # (kind, start, end) in the normalised text


NOTHING_FOUND = ThreatResult(detected=False, kinds=(), spans=())

_VICTIM = (
    r"(?:you|u|ya|yourself|ur|your\s+(?:\w+\s+)?(?:family|kids?|children|child|wife|husband|mom|mother|mum|dad|"
    r"father|daughter|son|sister|brother|parents|baby|dog|cat|house|home|car|face|head|throat|"
    r"legs?|neck|skull|brains?|body))"
)
# Verbs whose ordinary sense is harm to a person. Everyday verbs that threats also use ("get",
# "find", "visit", "come for", "end", "cut", "hang") are left out: "I'll get you home safe".
_HARM = (
    r"(?:kill|murder|shoot|stab|strangle|choke|hurt|harm|beat\s+(?:the\s+shit\s+out\s+of|up)|burn|torch|rape|slit|"
    r"smash|bash|hunt\s+(?:you\s+)?down|run\s+(?:you\s+)?over|"
    r"throw\s+acid\s+(?:at|on|in)|put\s+a\s+(?:bullet|knife|bomb)\s+in|blow\s+up|"
    r"make\s+(?:you|u)\s+(?:bleed|suffer|disappear)|poison|drown|gut|lynch|behead)"
)
_INTENT = (
    r"\b(?:i|we)\s*(?:'ll|will|shall|'m\s+(?:going\s+to|gonna|coming\s+to)|am\s+(?:going\s+to|gonna|coming\s+to)|"
    r"'re\s+(?:going\s+to|gonna|coming\s+to)|are\s+(?:going\s+to|gonna|coming\s+to)|gonna|'d|would|wanna|want\s+to|"
    r"swear\s+(?:i|we)(?:'ll|\s+will))\b"
)
_NEGATION = re.compile(r"\b(?:never|not|no|n't|nobody|no\s+one|wouldn't|won't|don't|didn't)\b")

# Harm that names the victim's body itself: "break your legs", "blow your brains out".
_HARM_TO_BODY = (
    r"(?:break\s+(?:your|ur)\s+(?:legs?|neck|arms?|face|jaw|nose|skull|bones|fingers)|"
    r"blow\s+(?:your|ur)\s+brains\s+out|slit\s+(?:your|ur)\s+throat)"
)
_INTENT_TO_HARM_BODY = re.compile(_INTENT + r"(?P<gap>(?:\s+\w+){0,3}?)\s+" + _HARM_TO_BODY + r"\b")
_INTENT_TO_HARM = re.compile(
    _INTENT + r"(?P<gap>(?:\s+\w+){0,3}?)\s+(?:" + _HARM + r")\b(?:\s+\w+){0,2}?\s*\b" + _VICTIM + r"\b"
)
_MEANS = re.compile(
    _INTENT + r"(?P<gap>(?:\s+\w+){0,3}?)\s+(?:acid|a\s+bullet|bullets|a\s+knife|a\s+bomb|a\s+gun|gasoline)\b"
)
_FATE = re.compile(
    r"\b(?:(?:you|u)\s*(?:'ll|will|'re\s+going\s+to|are\s+going\s+to|gonna|shall)\s+(?:die|bleed|"
    r"be\s+(?:dead(?=\s*(?:$|[.!?,]|soon|tonight|tomorrow|by))|in\s+a\s+body\s+bag)|"
    r"end\s+up\s+(?:dead|in\s+(?:a\s+)?(?:ditch|hospital|body\s+bag|coffin|grave|river))|not\s+(?:live|survive|wake\s+up)|"
    r"never\s+(?:wake\s+up|walk\s+again|see\s+(?:your|ur)\s+\w+\s+again)|"
    r"get\s+(?:what(?:'s|\s+is)\s+coming|acid|shot|stabbed|hurt|killed))"
    r"|(?:you|u)(?:'re|\s+are|\s+r)\s+(?:dead(?:\s+meat)?(?=\s*(?:$|[.!?,]|soon|tonight|tomorrow|bitch))|"
    r"a\s+dead\s+(?:man|woman))"
    r"|(?:your|ur)\s+days\s+are\s+numbered|sleep\s+with\s+one\s+eye\s+open"
    r"|watch\s+(?:your|ur)\s+back(?=\s*(?:$|[.!?,]|tonight|tomorrow|this\s+weekend|after\s+work|when\s+you|bitch|"
    r"from\s+now|out\s+there))"
    r"|(?:you|u)\s+won't\s+see\s+it\s+coming|(?:you|u)(?:'re|\s+are)\s+going\s+to\s+get\s+what(?:'s|\s+is)\s+coming"
    r"|say\s+goodbye\s+to\s+(?:your|ur)\s+(?:kids|family|life|children|face|legs))"
)
_KNOWS_VICTIM = re.compile(
    r"\b(?:(?:i|we)\s+know\s+where\s+(?:you|u|your\s+\w+)\s+(?:live|lives|work|works|sleep|park|go\s+to\s+school|"
    r"stay|drop\s+(?:off\s+)?your\s+kids)"
    r"|(?:i|we)\s+know\s+(?:your|ur)\s+(?:home\s+)?(?:address|license\s+plate|car|kids|children|daughter|son|"
    r"wife|husband|school|schedule|route)"
    r"|(?:i|we)(?:'ve|\s+have)\s+been\s+watching\s+(?:you|u)\b(?!\s+(?:play|sing|stream|grow|on\s+tv))"
    r"|(?:would\s+be|it'd\s+be)\s+a\s+shame\s+if\s+something\s+(?:happened|were\s+to\s+happen)\s+to\s+(?:you|your)"
    r"|nice\s+(?:house|car|family|kids|place)\s+you(?:'ve|\s+have)\s+(?:got\s+)?there)"
)
_COMING = re.compile(
    r"\b(?:i|we)\s*(?:'m|'re|am|are)\s+coming\s+(?:for|after)\s+(?:you|u)"
    r"(?=\s*(?:$|[.!?,]|next|bitch|and\s+your|when\s+you\s+least|one\s+day|soon\b(?!\s+to)))"
)
_CONDITIONAL = re.compile(
    r"\b(?:one\s+more|another|keep|if\s+you|next\s+time\s+you)\b[^.!?]{0,40}?\band\s+(?:you|u|i|we|your)\b"
    r"[^.!?]{0,40}?\b(?:acid|dead|die|kill|hurt|bleed|ditch|hospital|bullet|knife|body\s+bag|stab|shoot)\b"
)

# What makes a match harmless.
_FIGURATIVE = re.compile(
    r"\b(?:kill(?:ing)?\s+(?:it|time|the\s+(?:game|mood|vibe|lights?|engine))|kill\s+for\b|killing\s+me\b|"
    r"you(?:'re|\s+are)\s+killing\s+(?:me|it)|dying\s+(?:to|of|laughing)|shoot\s+(?:you|u)\s+(?:a|an)\s+"
    r"(?:message|email|text|dm|line|note)|murder\s+(?:a|the|this)\s+(?:burger|pizza|song|beat|track)|"
    r"(?:beat|destroy|crush|kill|murder|smash|end)\s+(?:you|u)\s+(?:at|in|on)\s+(?:chess|the\s+(?:game|finals?|match|race|"
    r"quiz|debate|polls?|election)|fortnite|cod|mario|\w+\s+(?:game|match|tournament))|"
    r"find\s+(?:you|u)\s+(?:a|an|the|some)\b|get\s+(?:you|u)\s+(?:a|an|the|some|coffee|lunch|dinner|drinks?)\b|"
    r"visit\s+(?:you|u)\s+(?:soon|next|this|on|in|at)\b[^.!?]{0,60}\b(?:coffee|lunch|dinner|catch\s+up|hug)|"
    r"come\s+(?:over|round)\s+for|sleep\s+when\s+(?:you|u)(?:'re|\s+are)\s+dead|dead\s+to\s+(?:me|us|the|them|everyone|him|her))"
)
_INVITATION = re.compile(r"\b(?:come\s+(?:over|round|by)|coffee|tea|dinner|lunch|party|drinks|hang\s+out|visit\s+me)\b")
_REPORTED = re.compile(
    r"\b(?:said|says|saying|told\s+(?:me|him|her|us)|wrote|writes|texted|messaged|dm'?d|threatened|reported|"
    r"screenshots?|quote|quoted|quoting|received|got\s+(?:a|this)\s+(?:message|dm|text)|sent\s+me|posted|"
    r"according\s+to|police|charged|arrested|sentenced|court|lyrics?|the\s+(?:movie|film|villain|character|book|"
    r"show|episode|novel)|in\s+the\s+(?:movie|film|book|game|show))\b"
)
_QUOTE_MARKS = re.compile(r"[\"“”«»]|(?:^|\s)'(?=\S)")  # an apostrophe only where it opens a quotation
_ADJACENT_QUOTE = re.compile(r"[\"“”«»']")


def normalise(text: str) -> str:
    """Lower case, one space between words, typographic apostrophes made plain."""
    return " ".join(text.replace("’", "'").replace("‘", "'").lower().split())


_NEGATED_BEFORE = re.compile(r"\b(?:never|not|won't|wouldn't)\W*$")


def _gap_negated(match: re.Match) -> bool:
    """A negation between the subject and the harm ("I would never hurt you"), or right before it."""
    gap = match.groupdict().get("gap") or ""
    return bool(_NEGATION.search(gap)) or bool(_NEGATED_BEFORE.search(match.string[max(0, match.start() - 12) : match.start()]))


def _quoted_or_reported(text: str, start: int, end: int, reports: bool) -> bool:
    """The threat is someone else's words the author quotes, reports or condemns: in quotation
    marks, or near a reporting word ("said", "reported", "police", "in the movie"). `reports`:
    whether the text has a reporting word at all (searched once per text)."""
    before, after = text[max(0, start - 60) : start], text[end : end + 60]
    if _ADJACENT_QUOTE.search(before[-3:]) and _ADJACENT_QUOTE.search(after[:3]):
        return True
    if not reports:
        return False
    return bool(_QUOTE_MARKS.search(before[-40:]) or _QUOTE_MARKS.search(after[:10]) or _REPORTED.search(before)
                or _REPORTED.search(after))


def detect_threat(text: str) -> ThreatResult:
    """Find the structure of a direct threat against a person in `text`. Pure and thread-safe."""
    normalised = normalise(text)
    if not normalised:
        return NOTHING_FOUND
    spans: list[tuple[str, int, int]] = []
    figurative = _FIGURATIVE.search(normalised)
    reports = _REPORTED.search(normalised) is not None
    for kind, pattern in (("intent_to_harm", _INTENT_TO_HARM), ("intent_to_harm", _INTENT_TO_HARM_BODY),
                          ("intent_to_harm", _MEANS),
                          ("intent_to_harm", _COMING), ("fate", _FATE),
                          ("knows_victim", _KNOWS_VICTIM), ("conditional", _CONDITIONAL)):
        if any(found == kind for found, _, _ in spans):
            continue  # one finding per kind is enough; scanning on would only cost time
        for match in pattern.finditer(normalised):
            start, end = match.span()
            if kind == "intent_to_harm" and _gap_negated(match):
                continue
            if figurative and figurative.start() < end and start < figurative.end():
                continue
            if kind == "knows_victim" and _INVITATION.search(normalised):
                continue
            if _quoted_or_reported(normalised, start, end, reports):
                continue
            spans.append((kind, start, end))
            break
    if not spans:
        return NOTHING_FOUND
    found = {kind for kind, _, _ in spans}
    return ThreatResult(detected=True, kinds=tuple(kind for kind in KINDS if kind in found), spans=tuple(spans))

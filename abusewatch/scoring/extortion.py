"""Rule-based detection of extortion (sextortion, blackmail) beside the model, as for threats.

`detect_extortion(text)` looks for the structure of extortion, not for words: a **demand** addressed
to the victim ("pay $500", "send more pics", "if you don't pay") together with a **threat to expose**
("I'll post", "or I leak", "your pictures go to your school", "everyone will see") and the
**leverage**: what would be exposed, which gives the kinds:

- `intimate_images`: nudes, pictures, photos, videos;
- `private_messages`: texts, chats, DMs, messages;
- `personal_data`: address, real name, phone number, workplace, location;
- `secrets`: a secret, an affair, "what you did";
- `deadline` (with one of the above): a time limit ("within 24 hours", "by tonight").

A demand and an exposure with no named leverage is left alone ("pay the invoice or we send it to
collections"). So are the hard negatives the structure rules out: paying someone back ("I'll send
you the $20 tomorrow"), asking for photos ("send me the pics from the wedding"), and anyone
reporting, quoting or warning about extortion ("someone is threatening to leak my pics unless I
pay, how do I report it?", news of an arrest). docs/threats.md measures it on the written corpus.
Like the threat layer, the classifier runs it only for a post aimed at someone.
"""

from __future__ import annotations

import bisect
import re

from abusewatch.scoring.findings import NOTHING_FOUND, KindsFound
from abusewatch.scoring.threats import normalise

# The enum of schemas/post-scores.v1.json extortion.kinds, in schema order (a unit test checks it).
KINDS: tuple[str, ...] = ("intimate_images", "private_messages", "personal_data", "secrets", "deadline")



_MONEY = r"(?:[$€£]\s?\d[\d,.]*k?|\d[\d,.]*\s?(?:k\s)?(?:\$|€|£|usd|eur|euros?|dollars?|bucks|btc|bitcoin|eth)\b)"
_DEMAND_VERB = r"(?:pay|send|transfer|wire|venmo|cashapp|give)"
_DEMAND = re.compile(
    # an imperative at the start of a sentence, addressed to the victim
    r"(?:^|[.!?;:]\s*|\bnow\s+)(?:pay|send|transfer|wire|venmo|cashapp)\b(?!\s+(?:you|u)\b)"
    # or a demand made explicit
    r"|\b(?:you\s+(?:have\s+to|need\s+to|must|better|will|gotta)|unless\s+(?:you|u)|if\s+(?:you|u)\s+(?:don't|dont|do\s+not|"
    r"won't|refuse\s+to|fail\s+to)|or\s+(?:you|u))\s+" + _DEMAND_VERB + r"\b"
    r"|\b" + _DEMAND_VERB + r"\s+(?:me|us)\b"
    r"|\b(?:i|we)\s+(?:want|need|demand)\s+" + _MONEY
)
_EXPOSE_VERB = r"(?:post|leak|share|send|expose|release|publish|show|spread|upload|forward|dump|sell|tell)"
_EXPOSE = re.compile(
    # first person: "I'll post them", "or we leak", "im sending these to"
    r"\b(?:i|we|or\s+i|or\s+we)\s*(?:'ll|will|'m|am|'re|are|im|gonna)?(?:\s+(?:going\s+to|gonna))?\s+(?:\w+\s+){0,2}?"
    + _EXPOSE_VERB + r"(?:ing)?\b"
    # passive: "your pictures go to your school", "the videos will be posted"
    r"|\b(?:your|ur|these|those|the|my|all)\s+(?:\w+\s+)?(?:nudes?|pics?|pictures|photos|videos?|vids?|images|texts|messages|"
    r"chats|dms|secrets?|screenshots)\s+(?:go|goes|will\s+go|get|gets|will\s+get|will\s+be|are\s+going)\s+(?:\w+\s+)?"
    r"(?:to|online|everywhere|posted|sent|shared|leaked|public|viral|out)\b"
    # the audience: "everyone will see", "your boss gets them"
    r"|\b(?:everyone|everybody|the\s+whole\s+(?:school|internet|world)|your\s+(?:family|parents|mom|dad|school|boss|employer|"
    r"friends|followers|wife|husband|girlfriend|boyfriend|kids|church|classmates|coworkers|colleagues))\s+(?:will\s+)?"
    r"(?:see|sees|know|knows|get|gets|find\s+out|finds\s+out|hear|hears)\b"
)
_LEVERAGE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("intimate_images", re.compile(r"\b(?:nudes?|naked|pics?|pictures|photos|videos?|vids?|images|sex\s*tape|webcam|"
                                   r"intimate|explicit|onlyfans)\b")),
    ("private_messages", re.compile(r"\b(?:texts|messages|chats|dms|screenshots|chat\s+logs|emails)\b")),
    ("personal_data", re.compile(r"\b(?:(?:home\s+)?address|real\s+name|phone\s+number|your\s+number|where\s+you\s+live|"
                                 r"where\s+you\s+work|your\s+(?:workplace|employer|location|identity|ssn|id))\b")),
    ("secrets", re.compile(r"\b(?:secrets?|affair|what\s+you\s+did|your\s+past|your\s+history)\b")),
)
_DEADLINE = re.compile(
    r"\b(?:(?:within|in|you\s+have)\s+(?:the\s+next\s+)?\d+\s*(?:hours?|hrs?|h|minutes?|mins?|days?)|"
    r"by\s+(?:tonight|tomorrow|midnight|noon|monday|tuesday|wednesday|thursday|friday|saturday|sunday|the\s+end\s+of)|"
    r"before\s+(?:tonight|tomorrow|midnight|noon)|\d+\s*(?:hours?|hrs?|minutes?|mins?)\s+(?:left|to\s+pay|to\s+send)|"
    r"clock\s+is\s+ticking|tick\s+tock)\b"
)
# Someone reporting, quoting, warning about or condemning extortion, not doing it. Looked for only
# around the demand and the exposure, and only the words that say whose words they are: an
# extortionist's "last warning" or "don't bother going to the police" does not make his post a report.
_REPORTING = re.compile(
    r"\b(?:threaten(?:s|ed|ing)?\s+(?:me|her|him|them|us|to)|blackmail(?:s|ed|ing)?\s+(?:me|her|him|them|us)|"
    r"extort(?:s|ed|ing)?\s+(?:me|her|him|them|us)|is\s+(?:blackmailing|extorting|threatening)|someone\s+is|"
    r"scam(?:mers?|s)?\b|how\s+do\s+i|what\s+do\s+i\s+do|arrested|charged|sentenced|convicted|"
    r"psa\b|beware|never\s+pay|(?:don't|do\s+not)\s+pay\s+(?:them|scammers|anyone)|(?:he|she|they)\s+(?:said|says|wrote|writes)|"
    r"told\s+(?:me|her|him)|according\s+to|in\s+the\s+(?:movie|film|book|show|episode)|"
    r"(?:i|we)\s+(?:reported|called\s+the\s+police|went\s+to\s+the\s+police))"
)
# A demand or an exposure inside quotation marks is someone else's words.
_QUOTED_SPAN = re.compile(r"[\"“”«»][^\"“”«»]{0,300}[\"“”«»]")
_WINDOW = 220  # characters a demand and an exposure may be apart and still be one threat
_CONTEXT = 80  # characters around them searched for reporting words


def _near(sorted_positions: list[int], position: int) -> bool:
    """Whether some position in the ascending list is within _WINDOW of `position`."""
    index = bisect.bisect_left(sorted_positions, position - _WINDOW)
    return index < len(sorted_positions) and sorted_positions[index] <= position + _WINDOW


def _quoted(spans: list[tuple[int, int]], position: int) -> bool:
    return any(start < position < end for start, end in spans)


def detect_extortion(text: str) -> KindsFound:
    """Find the structure of extortion in `text`. Pure and thread-safe."""
    normalised = normalise(text)
    if not normalised:
        return NOTHING_FOUND
    quotes = [m.span() for m in _QUOTED_SPAN.finditer(normalised)]
    demands = [m.start() for m in _DEMAND.finditer(normalised) if not _quoted(quotes, m.start())]  # ascending
    if not demands:
        return NOTHING_FOUND
    for exposure in _EXPOSE.finditer(normalised):
        if _quoted(quotes, exposure.start()) or not _near(demands, exposure.start()):
            continue
        index = bisect.bisect_left(demands, exposure.start() - _WINDOW)
        first = min(demands[index], exposure.start())
        around = normalised[max(0, first - _CONTEXT) : max(demands[index], exposure.end()) + _CONTEXT]
        if _REPORTING.search(around):
            continue
        break
    else:
        return NOTHING_FOUND
    leverage = [kind for kind, pattern in _LEVERAGE if pattern.search(normalised)]
    if not leverage:
        return NOTHING_FOUND
    found = set(leverage) | ({"deadline"} if _DEADLINE.search(normalised) else set())
    return KindsFound(detected=True, kinds=tuple(kind for kind in KINDS if kind in found))

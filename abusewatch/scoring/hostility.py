"""Rule-based detection of hostile-but-clean replies: the dismissive, mocking and menacing replies
that make up most of a pile-on and carry no profanity, which the model scores as clean (issue 21).

`detect_hostility(text)` looks for what such a reply does to the person it answers, in three kinds:

- `dismissal`: telling them to leave or be quiet ("log off", "delete your account", "nobody asked",
  "touch grass", "stay mad");
- `contempt`: mockery and scorn aimed at them ("ratio", "L", "you're a clown", "imagine posting
  this", "you should be ashamed", or a reply that is nothing but "pathetic");
- `menace`: menace to their reputation, job or safety that names no violence ("we know who you are",
  "your employer will hear about this", "enjoy your last week at that job", "you picked the wrong
  people", "you'll regret this"); violent threats are the threat layer's.

Unlike the threat and extortion layers, a finding here is not evidence against one post: political
speech is often rude, and "log off" from a friend is a joke. Nothing acts on it per post. The
detector counts it only as crowd evidence, when it comes from a young account that does not follow
the target (docs/detection.md), so that the crowd alone never alerts, the crowd plus hostility does.

Left alone, where the structure says so: the author talking about themselves ("I need to log off",
"I'm so embarrassed"), the same words in ordinary senses ("the ratio of flour to water", "finished
the book", "we're watching the stream"), and anyone quoting or reporting such replies ("people
telling her to log off is harassment"). docs/detection.md measures it. Like the threat layer, the
classifier runs it only for a post aimed at someone.
"""

from __future__ import annotations

import re

from abusewatch.scoring.findings import NOTHING_FOUND, KindsFound
from abusewatch.scoring.threats import normalise

# The enum of schemas/post-scores.v1.json hostility.kinds, in schema order (a unit test checks it).
KINDS: tuple[str, ...] = ("dismissal", "contempt", "menace")



_YOU = r"(?:you|u|ya|y'all|yall)"
_YOU_ARE = r"\b(?:you(?:'re|\s+are|\s+r|re)|ur|u\s+r|your\s+a)\b"
_YOUR = r"(?:your|ur)"
# Where an imperative can begin: a clause start, or after the fillers people open a reply with.
_CLAUSE = (
    r"(?:^|[.!?,;:]\s*|(?:^|\s)(?:just|pls|plz|please|now|so|and|then|lol|lmao|lmfao|bro|sis|honestly|srsly|seriously|"
    r"ok|okay|sweetie|hun|honey|buddy|pal|mate|kid|wow|omg|maybe|kindly|go\s+and|why\s+don't\s+you|you\s+should|"
    r"you\s+need\s+to|time\s+to|do\s+us\s+(?:all\s+)?a\s+favou?r\s+and|do\s+everyone\s+a\s+favou?r\s+and)\s+)"
)
_END = r"(?=$|[^a-z'])"
_PEOPLE_AROUND = (
    r"(?:boss|employer|job|company|school|university|uni|workplace|manager|hr|editor|sponsors?|agent|publisher|landlord|"
    r"family|mom|mum|dad|parents|wife|husband)"
)
_CONTEMPT_NOUNS = (
    r"clown|joke|loser|fraud|grifter|hack|disgrace|embarrassment|laughingstock|laughing\s+stock|nobody|"
    r"pathetic|embarrassing|cringe|irrelevant|delusional|clout\s+chaser|attention\s+seeker|parasite|"
    r"waste\s+of\s+(?:space|time|oxygen)|lost\s+cause|failure|has-?been|sellout|sell-out|bootlicker"
)


def _rule(kind: str, anchors: str, pattern: str) -> tuple[str, frozenset[str], re.Pattern[str]]:
    return kind, frozenset(anchors.split()), re.compile(pattern)


# (kind, anchors, pattern): a pattern is tried only on a post holding one of its anchor words, which
# most posts do not, so a post costs a set test per rule rather than a scan per pattern.
_RULES: tuple[tuple[str, frozenset[str], re.Pattern[str]], ...] = (
    # -- dismissal: telling them to leave or be quiet
    _rule("dismissal", "log logoff logout off offline lost away outside grass hike rocks shut quiet talking posting "
          "tweeting typing sit lane delete deactivate uninstall leave mad pressed cry crying cope seethe mald room "
          "life help therapy",
          _CLAUSE + r"(?:log\s*(?:off|out)(?!\s+(?:and\s+(?:sleep|go\s+to\s+bed|rest)|for\s+(?:the\s+|a\s+)?(?:night|day|bit|while|weekend)))|get\s+(?:off|offline)(?:\s+(?:this|the)\s+(?:app|site|platform|internet))?|"
          r"get\s+lost|go\s+away|go\s+outside|go\s+touch\s+grass|touch\s+(?:some\s+)?grass|take\s+a\s+hike|kick\s+rocks|"
          r"shut\s+up|be\s+quiet|stop\s+(?:talking|posting|tweeting|typing)|sit\s+down|stay\s+in\s+your\s+lane|"
          r"delete\s+(?:your|ur|this|that|it|the\s+(?:app|tweet|post))\b(?!\s+if\b|[^.!?]{0,40}\b(?:reinstall|re-install|update|restart|try\s+again))|"
          r"deactivate|uninstall(?![^.!?]{0,40}\b(?:reinstall|re-install|update|restart|try\s+again))|"
          r"leave\s+(?:the|this)\s+(?:app|site|platform|internet)|stay\s+(?:off|offline|mad|pressed|quiet)|"
          r"cry\s+(?:more|harder|about\s+it)|keep\s+crying|cope(?:\s+(?:harder|more|and\s+seethe))?|seethe|mald|"
          r"read\s+the\s+room|get\s+a\s+life|get\s+help|seek\s+help|go\s+to\s+therapy)" + _END),
    _rule("dismissal", "bye buh buhbye never door",
          _CLAUSE + r"(?:bye+(?:\s+(?:now|felicia))?|buh\s*bye|see\s+ya\s+never|don't\s+let\s+the\s+door)" + _END),
    _rule("dismissal", "asked cares care ask didnt",
          r"\b(?:nobody|no\s+one|noone|who)\s+(?:asked|cares|care)\b|\b(?:didn't|did\s+not|didnt)\s+ask\b"),
    _rule("dismissal", "wants welcome",
          r"\b(?:nobody|no\s+one)\s+wants\s+you\s+here\b|\b(?:you(?:'re|\s+are)\s+not|ur\s+not)\s+welcome\b"),
    _rule("dismissal", "discarded rejected invalid", r"\bopinion\s+(?:discarded|rejected|invalid)\b"),
    # -- contempt: mockery and scorn aimed at them
    _rule("contempt", "clown joke loser fraud grifter hack disgrace embarrassment laughingstock laughing nobody "
          "pathetic embarrassing cringe irrelevant delusional clout attention parasite waste lost failure has hasbeen "
          "been sellout sell bootlicker",
          _YOU_ARE + r"\s+(?:such\s+|so\s+|a\s+|an\s+|the\s+|just\s+|literally\s+|an?\s+(?:absolute|total|complete|"
          r"actual|walking|certified)\s+|pure\s+)*(?:" + _CONTEMPT_NOUNS + r")\b"
          r"|\bwhat\s+an?\s+(?:absolute\s+|total\s+|complete\s+)?(?:clown|joke|loser|fraud|grifter|embarrassment|"
          r"disgrace)\b"),
    _rule("contempt", "ratio ratio'd ratioed l issue syndrome clown audacity",
          r"\b(?:l\s*\+\s*ratio|ratio\s*\+\s*l|ratio(?:'d|ed)|get\s+ratio(?:'d|ed)|take\s+the\s+l|hold\s+this\s+l|"
          r"massive\s+l|huge\s+l|big\s+l|skill\s+issue|main\s+character\s+syndrome|clown\s+(?:behaviou?r|show|shoes|makeup)|"
          r"the\s+audacity)\b"),
    _rule("contempt", "hurt laughing likes ashamed shame yourself embarrass embarrassing",
          r"\b(?:who\s+hurt\s+you|everyone(?:'s|\s+is)\s+laughing\s+at\s+you|nobody\s+likes\s+you|no\s+one\s+likes\s+you|"
          r"(?:should|ought\s+to)\s+be\s+ashamed|shame\s+on\s+you|have\s+some\s+shame|have\s+you\s+no\s+shame|"
          r"embarrassing\s+(?:yourself|for\s+you)|you\s+embarrass\s+yourself)\b"),
    _rule("contempt", "imagine", r"\bimagine\s+(?:being|thinking|posting|saying|typing|tweeting|believing|having)\b"),
    _rule("contempt", "take dumb stupid slow wrong",
          r"\b(?:worst|braindead|clown)\s+take\b|\b(?:how|why)\s+are\s+you\s+(?:this|so)\s+(?:dumb|stupid|slow|wrong)\b"),
    # -- menace: to their reputation, job or safety, naming no violence
    _rule("menace", "who know",
          r"\b(?:we|i|everyone|everybody|people|they)\s+(?:all\s+)?(?:know|knows|found\s+out)\s+who\s+" + _YOU
          + r"\s+(?:are|really\s+are|r)\b|\beveryone\s+will\s+know\s+(?:what|who)\s+" + _YOU + r"\b"),
    _rule("menace", "name job employer boss linkedin family school address workplace office parents details info "
          "receipts screenshots number",
          r"\b(?:we|i)\s+(?:found|have|got|know)\s+" + _YOUR + r"\s+(?:real\s+name|job|employer|boss|linkedin|family|"
          r"school|address|workplace|office|parents|details|info|receipts|screenshots|number)\b"),
    _rule("menace", "watching coming",
          r"\b(?:we|i)(?:'re|\s+are|'m|\s+am)?\s+(?:all\s+)?(?:watching|coming\s+for)\s+" + _YOU
          + r"\b(?!\s+(?:play|sing|stream|on\s+tv|grow|live))"),
    _rule("menace", "hope boss employer job company school family parents sponsors sponsor",
          r"\bhope\s+" + _YOUR + r"\s+" + _PEOPLE_AROUND + r"\s+(?:sees|reads|finds|hears|knows)\b"),
    _rule("contempt", "who fell reading lasts",
          r"\bwho\s+(?:even\s+)?(?:are|r)\s+(?:you|u)\b(?=\s*(?:$|[.!?]|lol|lmao|🤡|😂))|\b" + _YOU + r"\s+fell\s+off\b"
          r"|\bnot\s+reading\s+(?:all\s+)?(?:that|this|allat)\b|\benjoy\s+it\s+while\s+it\s+lasts\b"),
    _rule("menace", "boss employer job company school university uni workplace manager hr editor sponsor sponsors "
          "agent publisher landlord family mom mum dad parents wife husband",
          r"\b" + _YOUR + r"\s+" + _PEOPLE_AROUND + r"\s+(?:will|is\s+going\s+to|gonna|should|needs\s+to|"
          r"would\s+love\s+to|is\s+about\s+to|just)\s+(?:\w+\s+)?(?:hear|see|know|find\s+out|learn|read|"
          r"get\s+(?:an?\s+)?(?:email|call))\b"
          r"|\b(?:emailing|emailed|calling|called|contacting|contacted|tagging|tagged|messaging|messaged|writing\s+to|"
          r"sent\s+this\s+to|forwarded\s+this\s+to|reported\s+you\s+to|reporting\s+you\s+to)\s+" + _YOUR + r"\s+"
          + _PEOPLE_AROUND + r"\b"),
    _rule("menace", "last final unemployment unemployed job hire work book publish again",
          r"\benjoy\s+(?:your\s+)?(?:last|final)\s+(?:day|days|week|weeks|month|shift)\b"
          r"(?!\s+(?:of|off|in|on)\s+(?:vacation|holiday|school|summer|the\s+trip|freedom|term|break|leave|paris|the\s+beach))"
          r"|\b(?:enjoy|hope\s+you\s+(?:like|enjoy))\s+(?:being\s+)?unemploy(?:ment|ed)\b"
          r"|\bgood\s+luck\s+(?:finding|getting)\s+(?:a|another)\s+job\b"
          r"|\b(?:no\s+one|nobody)\s+(?:will|is\s+going\s+to|gonna)\s+(?:ever\s+)?(?:hire|work\s+with|book|publish)\s+"
          + _YOU + r"\b|\b" + _YOU + r"(?:'ll|\s+will)\s+never\s+work\s+(?:in\s+\w+\s+)?again\b"),
    _rule("menace", "goodbye career job reputation",
          r"\b(?:say|kiss|wave)\s+goodbye\s+to\s+" + _YOUR + r"\s+(?:career|job|reputation|sponsors?|contract|account|"
          r"followers|platform|business|livelihood)\b"
          r"|\b" + _YOUR + r"\s+career(?:'s|\s+is)\s+(?:over|done|finished)\b|\bthere\s+goes\s+" + _YOUR + r"\s+career\b"
          r"|\brip\s+" + _YOUR + r"\s+(?:career|job|reputation)\b"),
    _rule("menace", "finished done cooked toast history over cancelled canceled",
          _YOU_ARE + r"\s+(?:so\s+|totally\s+|completely\s+|absolutely\s+)?(?:finished|done(?:\s+for)?|cooked|toast|"
          r"history|over|cancell?ed)" + _END + r"(?!\s+(?:with|yet|the|this|that|reading|watching|now|already|early|in|at|for\s+the))"),
    _rule("menace", "end over well",
          r"\bthis\s+is\s+the\s+end\s+of\s+(?:you|your)\b|\bit(?:'s|\s+is)\s+over\s+for\s+(?:you|u)\b"
          r"|\bthis\s+(?:won't|will\s+not|isn't\s+going\s+to|is\s+not\s+going\s+to)\s+end\s+well\s+for\s+" + _YOU + r"\b"),
    _rule("menace", "wrong",
          r"\b" + _YOU + r"\s+(?:picked|chose|messed\s+with|crossed|pissed\s+off)\s+the\s+wrong\s+(?:people|person|crowd|"
          r"fight|side|one|community|fandom|group)\b|\bwrong\s+(?:people|crowd|community)\s+to\s+mess\s+with\b"),
    _rule("menace", "regret pay sorry",
          r"\b" + _YOU + r"(?:'ll|\s+will|'re\s+going\s+to|\s+are\s+going\s+to|\s+gonna)\s+(?:regret|pay\s+for)\s+"
          r"(?:this|that|it|posting|saying|writing|tweeting|every)\b|\b" + _YOU + r"(?:'ll|\s+will)\s+be\s+sorry\b"),
    _rule("menace", "warned warning consequences happens",
          r"\b(?:you(?:'ve|\s+have)\s+been\s+warned|(?:this\s+is\s+your\s+)?(?:last|final)\s+warning|"
          r"consequences\s+are\s+coming|actions\s+have\s+consequences)\b"
          r"|\bkeep\s+(?:talking|posting|tweeting|it\s+up)\s+and\s+see\s+what\s+happens\b"),
    _rule("menace", "scared tight lock doors door watch yourself",
          r"\b(?:stay|be)\s+scared\b|\bsleep\s+tight\b(?=.{0,20}?(?:😈|🔪|while\s+you\s+can))"
          r"|\bbetter\s+lock\s+" + _YOUR + r"\s+doors?\b|\block\s+" + _YOUR + r"\s+doors?\s+tonight\b"
          r"|\bbetter\s+watch\s+(?:out|yourself)\b|\bwatch\s+yourself\b"),
    _rule("menace", "sure", r"\b(?:we|i)(?:'ll|\s+will)\s+make\s+sure\s+(?:everyone|every\s+\w+)\s+(?:knows|sees|hears|"
          r"finds\s+out)\b|\b(?:we|i)(?:'ll|\s+will)\s+make\s+sure\s+(?:you|u)\s+(?:never|regret|pay|lose)\b"),
    _rule("menace", "brought asked coming deserve",
          r"\b" + _YOU + r"\s+(?:brought\s+this\s+on\s+yourself|asked\s+for\s+(?:this|it)|had\s+(?:this|it)\s+coming|"
          r"deserve\s+what(?:'s|\s+is)\s+coming)\b"),
    _rule("menace", "see find longer long soon irl person",
          r"\b" + _YOU + r"(?:'ll|\s+will)\s+(?:see|find\s+out)\b(?:\s+soon)?(?=\s*(?:😈|🔪))"
          r"|\b" + _YOU + r"\s+won't\s+be\s+(?:here|around|on\s+this\s+app)\s+(?:much\s+)?(?:longer|for\s+long)\b"
          r"|\bsee\s+(?:you|u)\s+(?:soon|irl|in\s+person)\b(?=\s*(?:😈|🔪|👀))"),
)

# Fillers that may stand around a one-word reply ("lol pathetic", "wow. embarrassing 🤡").
_FILLERS = frozenset(
    "lol lmao lmfao rofl haha hahaha omg wow just honestly so very this is that's thats how what a an absolutely "
    "truly pure peak literally actually bro sis dude man yeah yep ok okay imagine such big massive huge".split()
)
# A reply that is nothing but scorn ("pathetic", "lol ratio", "cringe 🤡"): the words alone, with fillers.
_SCORN_WORDS = frozenset(
    "ratio l pathetic embarrassing cringe cringy clown clowns fraud grifter loser losers yikes disgraceful shameful "
    "joke pitiful laughable delusional irrelevant hasbeen".split()
)
# The author speaking of themselves: a first-person word with no "you" after it before the verb
# ("I need to log off", "time for me to get off the app"; not "I think you should log off").
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|i'll|i'd|me|myself)\b")
_SECOND_PERSON = re.compile(r"\b(?:you|u|ya|your|ur|y'all|yall)\b")
# Warmth that makes "bye", "you're finished" or "enjoy your last day" a friend's words.
_FRIENDLY = re.compile(
    r"\b(?:congrat\w*|proud\s+of\s+you|well\s+done|happy\s+for\s+you|love\s+(?:you|u|ya)|miss\s+(?:you|u)|"
    r"thank\s+(?:you|u)|thanks|good\s+luck|you'll\s+do\s+great|safe\s+travels|get\s+well|have\s+fun|"
    r"take\s+care|see\s+you\s+tomorrow|xoxo)\b|❤️|💕|🎉|🥳|😍|🥰|🤗"
)
# Someone reporting or condemning such replies, or quoting them: the words are not theirs.
_REPORTING = re.compile(
    r"\b(?:people|they|he|she|someone|somebody|accounts?|trolls?|strangers|everyone)\s+(?:are\s+|is\s+|keep\s+|kept\s+)?"
    r"(?:telling|told|saying|said|says|replying|calling|spamming|sending)\b|\breported\b|\bharass\w*|\bscreenshots?\s+of\b|"
    r"\bpile-?on\b|\bdogpil\w*|\bbrigad\w*"
)
_ADJACENT_QUOTE = re.compile(r"[\"“”«»']")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|\+")
_MENTION = re.compile(r"(?:^|\s)@\w+")


def _scorn_only(normalised: str) -> bool:
    """The reply is nothing but a scorn word, with fillers ("lol pathetic", "L + ratio 🤡"), or
    nothing but clowns."""
    words = [word for word in _WORD.findall(normalised) if word not in _FILLERS and word != "+"]
    if not words:
        return "🤡" in normalised
    return len(words) <= 2 and all(word in _SCORN_WORDS for word in words)


def _self_directed(normalised: str, start: int, end: int) -> bool:
    """An imperative the author addresses to themselves ("I need to log off")."""
    before = normalised[max(0, start - 30) : end]
    last = None
    for last in _FIRST_PERSON.finditer(before):
        pass
    return last is not None and not _SECOND_PERSON.search(before, last.end())


def _quoted(normalised: str, start: int, end: int) -> bool:
    return bool(_ADJACENT_QUOTE.search(normalised[max(0, start - 3) : start])
                and _ADJACENT_QUOTE.search(normalised[end : end + 3]))


def detect_hostility(text: str) -> KindsFound:
    """Find hostile-but-clean replies in `text`. Pure and thread-safe."""
    normalised = normalise(_MENTION.sub(" ", text))
    if not normalised:
        return NOTHING_FOUND
    words = frozenset("bye" if word.startswith("bye") else word for word in _WORD.findall(normalised))
    found: set[str] = set()
    for kind, anchors, pattern in _RULES:
        if kind in found or anchors.isdisjoint(words):
            continue
        for match in pattern.finditer(normalised):
            start, end = match.span()
            if kind == "dismissal" and _self_directed(normalised, start, end):
                continue
            if _quoted(normalised, start, end):
                continue
            found.add(kind)
            break
    if "contempt" not in found and len(words) <= 12 and _scorn_only(normalised):
        found.add("contempt")
    if found and (_REPORTING.search(normalised) or (found & {"dismissal", "menace"} and _FRIENDLY.search(normalised))):
        # Reported or condemned; or a friend's words ("ok bye love you", "you're finished! congrats").
        found -= {"dismissal", "menace"} if not _REPORTING.search(normalised) else set(found)
    if not found:
        return NOTHING_FOUND
    return KindsFound(detected=True, kinds=tuple(kind for kind in KINDS if kind in found))

"""Rule-based detection of exposed personal data (phone numbers, emails, addresses, ids, cards, IPs).

`detect_personal_data(text)` answers "does this text expose personal data, and which kinds?". It
does not decide doxxing on its own: doxxing is personal data *aimed at someone*, so the classifier
reports `doxxing.detected` only when the post also has targets (a reply-to or a mention); see
`abusewatch.scoring.classify` and docs/doxxing.md.

It runs on every post, so every pattern is compiled once at import, texts without a digit skip
every finder but the email one, and each candidate match is validated in Python (digit counts,
Luhn, SSN area rules, IP ranges) rather than with ever-larger regexes. The patterns favour
precision: a missed number is better than flagging every date, price or order number.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterator

# The enum of schemas/post-scores.v1.json doxxing.kinds, in schema order (a unit test checks it).
KINDS: tuple[str, ...] = ("phone", "email", "street_address", "government_id", "payment_card", "ip_address")

# When two findings overlap, the more specific kind keeps the span: a card number also looks like
# a long phone number, an email's local part can hold digits, an SSN can sit inside an address.
_OVERLAP_PRIORITY: dict[str, int] = {
    "email": 0,
    "payment_card": 1,
    "government_id": 2,
    "ip_address": 3,
    "phone": 4,
    "street_address": 5,
}


@dataclasses.dataclass(frozen=True, slots=True)
class PersonalDataSpan:
    """One finding: `text[start:end]` is personal data of `kind` (`detail` names the format)."""

    kind: str
    detail: str
    start: int
    end: int


@dataclasses.dataclass(frozen=True, slots=True)
class DoxxingResult:
    """What `detect_personal_data` found. `detected` means personal data is present, not doxxing."""

    detected: bool
    kinds: tuple[str, ...]
    spans: tuple[PersonalDataSpan, ...]


NOTHING_FOUND = DoxxingResult(detected=False, kinds=(), spans=())

# Words shortly before a number that say it is a reference, not a phone number, card or id.
_REFERENCE_CONTEXT = re.compile(
    r"(?i)\b(?:order|tracking|track|invoice|inv|ref|reference|ticket|case|booking|confirmation|"
    r"conf|receipt|transaction|txn|serial|sku|isbn|issn|po|part|model|item|parcel|shipment|"
    r"package|awb|version|ver|build|release|patch|#)\W{0,3}(?:no\.?|num(?:ber)?\.?|id|code)?\W{0,3}$"
)
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:call|calling|text|txt|phone|ph|tel|telephone|cell|mobile|mob|number|num|dial|sms|"
    r"whats\s?app|signal|telegram|ring|reach)\b[^\d\n]{0,20}$"
)
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?|ss#)\W{0,12}$")
_YEAR_CONTEXT = re.compile(r"(?i)\b(?:in|since|from|by|of|until|till|before|after|around|circa|year)\s+$")
_VERSION_PREFIX = re.compile(r"(?i)(?:\bv|\bver\.?|\bversion|\bbuild|\brelease|\bos|\bios|\bandroid)\s*$")

# Every finder except the email one needs a digit; emails need an "@" or a bracketed "at".
_HAS_DIGIT = re.compile(r"[0-9]")
_MIGHT_HAVE_EMAIL = re.compile(r"@|[\[({]\s*at\s*[\])}]", re.IGNORECASE)


def _before(text: str, start: int, width: int = 40) -> str:
    return text[max(0, start - width) : start]


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _single_separator(value: str) -> bool:
    """True when the number uses one separator style throughout (dates mix '.', '/', '-', ' ')."""
    separators = set(re.sub(r"[\d()+]", "", value))
    return len(separators) <= 1


# ---------------------------------------------------------------------------------------------
# Phone numbers

# +CC then digit groups: +44 20 7946 0958, +1 (555) 123-4567, +33 6 12 34 56 78, +4915112345678.
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w]|[.,]\d)")
# 00CC international dialling prefix: 0044 20 7946 0958.
_PHONE_DIAL_PREFIX = re.compile(r"(?<![\w+.,/-])00[1-9]\d{0,2}(?:[ .-]?\d{1,5}){2,6}(?![\w]|[.,]\d)")
# North American: (555) 123-4567, 555-123-4567, 555.123.4567, 1-555-123-4567. Separators are
# required so that bare 10-digit order numbers do not match; area and exchange start with 2-9.
_PHONE_NANP = re.compile(
    r"(?<![\w+.,/$€£-])(?:1[ .-]?)?(?:\(\s*[2-9]\d{2}\s*\)\s*|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}(?![\w-]|[.,]\d)"
)
# National numbers with a trunk 0 (UK, most of Europe): 07700 900123, 020 7946 0958,
# 06 12 34 56 78, 0171 1234567, (0161) 496 0000, 030/12345678.
_PHONE_TRUNK = re.compile(
    r"(?<![\w+.,/$€£-])(?:\(0\d{1,4}\)\s?|0\d{1,4}(?:[ ./-]|(?=\d)))\d{2,4}(?:[ .-]?\d{2,4}){0,3}(?![\w-]|[.,/]\d)"
)
# Bare digit runs count only right after a phone word ("call me on 5551234567").
_PHONE_BARE = re.compile(r"(?<![\w+.,/$€£-])\+?\d{10,13}(?![\w-]|[.,]\d)")


def _phones(text: str) -> Iterator[PersonalDataSpan]:
    for match in _PHONE_INTERNATIONAL.finditer(text):
        if 8 <= len(_digits(match.group())) <= 15 and not _REFERENCE_CONTEXT.search(_before(text, match.start())):
            yield PersonalDataSpan("phone", "international", match.start(), match.end())
    for match in _PHONE_DIAL_PREFIX.finditer(text):
        if 10 <= len(_digits(match.group())) <= 17 and _single_separator(match.group()):
            if not _REFERENCE_CONTEXT.search(_before(text, match.start())):
                yield PersonalDataSpan("phone", "international", match.start(), match.end())
    for match in _PHONE_NANP.finditer(text):
        if not _REFERENCE_CONTEXT.search(_before(text, match.start())):
            yield PersonalDataSpan("phone", "north_american", match.start(), match.end())
    for match in _PHONE_TRUNK.finditer(text):
        value = match.group()
        if value.startswith("00"):
            continue
        if 10 <= len(_digits(value)) <= 11 and _single_separator(value.split(")")[-1].strip()):
            if not _REFERENCE_CONTEXT.search(_before(text, match.start())):
                yield PersonalDataSpan("phone", "national", match.start(), match.end())
    for match in _PHONE_BARE.finditer(text):
        if _PHONE_CONTEXT.search(_before(text, match.start())):
            yield PersonalDataSpan("phone", "bare_digits", match.start(), match.end())


# ---------------------------------------------------------------------------------------------
# Email addresses

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
)
# "jane.doe [at] gmail [dot] com", "jane(at)example.org": the usual way to dodge email filters.
_EMAIL_OBFUSCATED = re.compile(
    r"(?i)(?<![\w.+-])[a-z0-9][a-z0-9._%+-]{0,63}\s*[\[({]\s*at\s*[\])}]\s*[a-z0-9-]{1,63}"
    r"(?:\s*(?:[\[({]\s*dot\s*[\])}]|\.)\s*[a-z0-9-]{1,63})*\s*(?:[\[({]\s*dot\s*[\])}]|\.)\s*[a-z]{2,24}\b"
)


def _emails(text: str) -> Iterator[PersonalDataSpan]:
    for match in _EMAIL.finditer(text):
        yield PersonalDataSpan("email", "address", match.start(), match.end())
    for match in _EMAIL_OBFUSCATED.finditer(text):
        yield PersonalDataSpan("email", "obfuscated", match.start(), match.end())


# ---------------------------------------------------------------------------------------------
# Street addresses

_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
    r"Terrace|Ter|Close|Crescent|Cres|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Trail|Trl|"
    r"Gardens|Grove|Mews|Row|Walk|Hill|Park|Parade|Pike|Alley|Plaza|Loop|Gate"
)
# Abbreviations people type in lower case ("12 oak st"); full words in lower case ("20 minute
# drive") are too often ordinary prose, so those need a capitalised street name.
_STREET_ABBREVIATIONS = r"st|ave|rd|blvd|ln|pkwy|hwy"
_UNIT = r"(?:,?\s*(?:Apt|Apartment|Unit|Suite|Ste|Flat|Fl|Floor|#)\.?\s*#?[0-9]+[A-Za-z]?)"
_CITY_STATE_ZIP = (
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2})?"  # city
    r"(?:,?\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?"  # US state + ZIP
    r"|,?\s*[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})?"  # UK postcode
)
_HOUSE_NUMBER = r"(?<![\w.,/$€£-])(\d{1,5}[A-Za-z]?(?:-\d{1,5})?)"
_STREET_ENGLISH = re.compile(
    _HOUSE_NUMBER
    + r",?\s+(?:"
    + r"(?:(?:[NSEW]\.?|North|South|East|West)\s+)?(?:[A-Z][a-z'’.-]*\s+){0,3}[A-Z][a-z'’.-]*\s+(?:"
    + _STREET_TYPES
    + r")\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"
    + r"|(?:[a-z][a-z'’-]*\s+){1,3}(?:"
    + _STREET_ABBREVIATIONS
    + r")\.?"
    + r")(?![\w])"
    + _UNIT
    + r"?"
    + _CITY_STATE_ZIP
)
# Street type first: "12 rue de Rivoli", "5 Calle Mayor", "10 Via Roma".
_STREET_TYPE_FIRST = re.compile(
    _HOUSE_NUMBER
    + r",?\s+(?i:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|calle|avenida|"
    r"via|viale|piazza|corso|rua|praça|carrer)\s+(?:(?i:de|del|de la|du|des|di|da|do|della|l')\s*)?[A-Z][\w'’-]+"
)
# Street type as suffix, number after: "Hauptstraße 5", "Kalverstraat 92", "Calle Mayor 5".
_STREET_NUMBER_AFTER = re.compile(
    r"\b(?:[A-ZÄÖÜ][\wäöüß'’-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|"
    r"straat|gracht|laan|plein|kade|vej|gade|gatan|vägen|gata|veien)|"
    r"(?:Calle|Via|Viale|Piazza|Corso|Rua|Avenida|Carrer)\s+(?:(?:de|del|di|da|do|della)\s+)?[A-Z][\w'’-]+)"
    r"\s+(\d{1,4}[a-zA-Z]?)(?![\w.,/-]|\s*(?:€|EUR|km|m\b|min|%))"
)


def _street_addresses(text: str) -> Iterator[PersonalDataSpan]:
    for pattern in (_STREET_ENGLISH, _STREET_TYPE_FIRST):
        for match in pattern.finditer(text):
            number = match.group(1)
            before = _before(text, match.start(), 12)
            # "in 1984 Abbey Road was ...": a year, not a house number.
            if len(number) == 4 and number[:2] in ("19", "20") and _YEAR_CONTEXT.search(before):
                continue
            yield PersonalDataSpan("street_address", "street", match.start(), match.end())
    for match in _STREET_NUMBER_AFTER.finditer(text):
        yield PersonalDataSpan("street_address", "street", match.start(), match.end())


# ---------------------------------------------------------------------------------------------
# Government ids

# US SSN written as 3-2-4 with dashes or spaces; bare 9 digits only after "SSN"/"social security".
_US_SSN = re.compile(r"(?<![\w.,/$-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-]|[.,]\d)")
_US_SSN_BARE = re.compile(r"(?<![\w.,/$-])(\d{3})(\d{2})(\d{4})(?![\w-]|[.,]\d)")
# UK National Insurance number: two prefix letters (no D, F, I, Q, U, V; second not O; not
# BG, GB, NK, KN, TN, NT, ZZ), six digits, suffix A-D. Upper case, as printed on documents.
_UK_NINO = re.compile(
    r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)
# Canadian SIN: 3-3-3 with separators, Luhn-valid, first digit not 0 or 8.
_CA_SIN = re.compile(r"(?<![\w.,/$-])[1-79]\d{2}([- ])\d{3}\1\d{3}(?![\w-]|[.,]\d)")
# Spanish DNI (8 digits + check letter) and NIE (X/Y/Z + 7 digits + check letter).
_ES_DNI_NIE = re.compile(r"\b([XYZ]?)(\d{7,8})-?([A-Z])\b")
_ES_CHECK_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
# Italian codice fiscale: surname/name letters, birth date and place, check letter.
_IT_CODICE_FISCALE = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b")


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _spanish_id_valid(prefix: str, digits: str, letter: str) -> bool:
    if prefix:
        if len(digits) != 7:
            return False
        digits = str("XYZ".index(prefix)) + digits
    elif len(digits) != 8:
        return False
    return _ES_CHECK_LETTERS[int(digits) % 23] == letter


def _government_ids(text: str) -> Iterator[PersonalDataSpan]:
    for match in _US_SSN.finditer(text):
        if _ssn_valid(match.group(1), match.group(3), match.group(4)):
            if not _REFERENCE_CONTEXT.search(_before(text, match.start())):
                yield PersonalDataSpan("government_id", "us_ssn", match.start(), match.end())
    for match in _US_SSN_BARE.finditer(text):
        if _ssn_valid(*match.groups()) and _SSN_CONTEXT.search(_before(text, match.start())):
            yield PersonalDataSpan("government_id", "us_ssn", match.start(), match.end())
    for match in _UK_NINO.finditer(text):
        yield PersonalDataSpan("government_id", "uk_nino", match.start(), match.end())
    for match in _CA_SIN.finditer(text):
        if _luhn_valid(_digits(match.group())) and not _REFERENCE_CONTEXT.search(_before(text, match.start())):
            yield PersonalDataSpan("government_id", "ca_sin", match.start(), match.end())
    for match in _ES_DNI_NIE.finditer(text):
        if _spanish_id_valid(*match.groups()):
            yield PersonalDataSpan("government_id", "es_dni", match.start(), match.end())
    for match in _IT_CODICE_FISCALE.finditer(text):
        yield PersonalDataSpan("government_id", "it_codice_fiscale", match.start(), match.end())


# ---------------------------------------------------------------------------------------------
# Payment cards

# 13-19 digits, optionally in groups separated by single spaces or dashes; the look-arounds keep
# the match from starting or ending inside a longer number (a 22-digit USPS tracking number).
_CARD = re.compile(r"(?<![\w.,/$+-])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![\w]|[-., ]?\d)")
# Issuer prefixes: Visa 4, Mastercard 51-55 and 2221-2720, Maestro 50 and 56-58, Amex 34/37,
# JCB 35, Diners 300-305/36/38, Discover/UnionPay/Maestro 6. A Luhn-valid run outside these
# ranges is more likely an account or reference number.
_CARD_ISSUER = re.compile(r"^(?:4|5[0-8]|2(?:22[1-9]|2[3-9]|[3-6]|7[01]|720)|3[4-8]|30[0-5]|6)")


def _payment_cards(text: str) -> Iterator[PersonalDataSpan]:
    for match in _CARD.finditer(text):
        value = match.group()
        digits = _digits(value)
        if not _single_separator(value) or not _CARD_ISSUER.match(digits) or not _luhn_valid(digits):
            continue
        if len(set(digits)) == 1 or _REFERENCE_CONTEXT.search(_before(text, match.start())):
            continue
        yield PersonalDataSpan("payment_card", "luhn_valid", match.start(), match.end())


# ---------------------------------------------------------------------------------------------
# IP addresses

_IPV4 = re.compile(
    r"(?<![\w.:-])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w-]|\.\d)"
)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _ip_addresses(text: str) -> Iterator[PersonalDataSpan]:
    # Only globally routable addresses identify someone's connection; 192.168.x.x, 10.x.x.x,
    # 127.0.0.1 and documentation ranges are everybody's router or an example.
    for match in _IPV4.finditer(text):
        if _VERSION_PREFIX.search(_before(text, match.start(), 12)):
            continue
        if ipaddress.IPv4Address(match.group()).is_global:
            yield PersonalDataSpan("ip_address", "ipv4", match.start(), match.end())
    for match in _IPV6.finditer(text):
        value = match.group()
        groups = [group for group in value.split(":") if group]
        # Clock times (12:30:45) have two colons and no "::"; require a real IPv6 shape.
        if len(groups) < 3 or ("::" not in value and len(groups) != 8):
            continue
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError:
            continue
        if address.is_global:
            yield PersonalDataSpan("ip_address", "ipv6", match.start(), match.end())


# ---------------------------------------------------------------------------------------------

_FINDERS: tuple[Callable[[str], Iterator[PersonalDataSpan]], ...] = (
    _emails,
    _payment_cards,
    _government_ids,
    _ip_addresses,
    _phones,
    _street_addresses,
)


def _without_overlaps(spans: list[PersonalDataSpan]) -> list[PersonalDataSpan]:
    """Keep the most specific finding where findings overlap (see _OVERLAP_PRIORITY)."""
    kept: list[PersonalDataSpan] = []
    for span in sorted(spans, key=lambda s: (_OVERLAP_PRIORITY[s.kind], -(s.end - s.start), s.start)):
        overlaps = any(span.start < other.end and other.start < span.end for other in kept)
        # A street address legitimately contains a ZIP or house number that another finder may
        # have claimed; it is only dropped when it lies wholly inside a more specific finding.
        inside = any(other.start <= span.start and span.end <= other.end for other in kept)
        if not overlaps or (span.kind == "street_address" and not inside):
            kept.append(span)
    return sorted(kept, key=lambda s: (s.start, s.end))


def detect_personal_data(text: str) -> DoxxingResult:
    """Find exposed personal data in `text`. Pure and thread-safe; returns NOTHING_FOUND fast."""
    # Most posts have no digits (mentions do have an "@"), so they take the short path.
    if _HAS_DIGIT.search(text):
        finders = _FINDERS
    elif _MIGHT_HAVE_EMAIL.search(text):
        finders = (_emails,)
    else:
        return NOTHING_FOUND
    spans = _without_overlaps([span for finder in finders for span in finder(text)])
    if not spans:
        return NOTHING_FOUND
    found = {span.kind for span in spans}
    return DoxxingResult(detected=True, kinds=tuple(kind for kind in KINDS if kind in found), spans=tuple(spans))

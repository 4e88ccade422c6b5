"""The personal-data detector: what it must catch, and the numbers it must leave alone."""

from __future__ import annotations

import dataclasses
import time

import pytest

from abusewatch.ingest.contract import schema_for
from abusewatch.scoring.doxxing import KINDS, NOTHING_FOUND, detect_personal_data

FOUND = [
    # phone numbers
    ("call her on +44 20 7946 0958", "phone", "+44 20 7946 0958"),
    ("+1 (555) 234-5678 is his cell", "phone", "+1 (555) 234-5678"),
    ("his number is 555-234-5678", "phone", "555-234-5678"),
    ("(555) 234-5678", "phone", "(555) 234-5678"),
    ("555.234.5678", "phone", "555.234.5678"),
    ("1-555-234-5678", "phone", "1-555-234-5678"),
    ("ring 07700 900123", "phone", "07700 900123"),
    ("020 7946 0958", "phone", "020 7946 0958"),
    ("(0161) 496 0000", "phone", "(0161) 496 0000"),
    ("06 12 34 56 78", "phone", "06 12 34 56 78"),
    ("+33 6 12 34 56 78", "phone", "+33 6 12 34 56 78"),
    ("0171 1234567", "phone", "0171 1234567"),
    ("030/12345678", "phone", "030/12345678"),
    ("+4915112345678", "phone", "+4915112345678"),
    ("0044 20 7946 0958", "phone", "0044 20 7946 0958"),
    ("call me at 5552345678", "phone", "5552345678"),
    # email addresses
    ("email jane.doe@gmail.com now", "email", "jane.doe@gmail.com"),
    ("jane.doe [at] gmail [dot] com", "email", "jane.doe [at] gmail [dot] com"),
    ("jane(at)example.org", "email", "jane(at)example.org"),
    # street addresses
    ("she lives at 123 Main Street", "street_address", "123 Main Street"),
    ("12 oak st", "street_address", "12 oak st"),
    (
        "1600 Pennsylvania Ave NW, Washington, DC 20500",
        "street_address",
        "1600 Pennsylvania Ave NW, Washington, DC 20500",
    ),
    ("221B Baker Street, London NW1 6XE", "street_address", "221B Baker Street, London NW1 6XE"),
    ("42 Elm Rd Apt 4B, Springfield, IL 62704", "street_address", "42 Elm Rd Apt 4B, Springfield, IL 62704"),
    ("12 rue de Rivoli", "street_address", "12 rue de Rivoli"),
    ("Hauptstraße 5", "street_address", "Hauptstraße 5"),
    ("Kalverstraat 92", "street_address", "Kalverstraat 92"),
    ("Calle Mayor 5", "street_address", "Calle Mayor 5"),
    # government ids
    ("ssn 123-45-6789", "government_id", "123-45-6789"),
    ("SSN: 123456789", "government_id", "123456789"),
    ("AB 12 34 56 C", "government_id", "AB 12 34 56 C"),
    ("AB123456C", "government_id", "AB123456C"),
    ("130 692 544", "government_id", "130 692 544"),
    ("12345678Z", "government_id", "12345678Z"),
    ("X1234567L", "government_id", "X1234567L"),
    ("RSSMRA85T10A562S", "government_id", "RSSMRA85T10A562S"),
    # payment cards
    ("card 4111 1111 1111 1111", "payment_card", "4111 1111 1111 1111"),
    ("4111-1111-1111-1111", "payment_card", "4111-1111-1111-1111"),
    ("5500005555555559", "payment_card", "5500005555555559"),
    ("3782 822463 10005", "payment_card", "3782 822463 10005"),
    # ip addresses
    ("his ip is 8.8.4.4", "ip_address", "8.8.4.4"),
    ("2001:4860:4860::8888", "ip_address", "2001:4860:4860::8888"),
]

NOT_FOUND = [
    "on 2024-01-15 we met",
    "12/25/2024",
    "15.01.2024",
    "01.01.2020-31.12.2020",
    "from 9am to 5pm at 12:30:45",
    "1999",
    "in 2024",
    "the years 1990 1991 1992 1993",
    "it costs $1,234.56",
    "€1.234,56",
    "pay 0.99 now",
    "1,000,000 views",
    "Order #123456789",
    "order 555-234-5678",
    "invoice 0171 1234567",
    "1234567890",
    "tracking 1Z999AA10123456784",
    "tracking number 9400 1000 0000 0000 0000 00",
    "ISBN 978-3-16-148410-0",
    "version 1.2.3.4",
    "v10.0.19041.1",
    "python 3.11.4",
    "ip 192.168.1.1",
    "localhost is 127.0.0.1",
    "std::vector<int>",
    "4111 1111 1111 1112",
    "scored 100-200-3000",
    "20 minute drive",
    "2 ways to go",
    "I ran 5 miles down Main Street",
    "in 1984 Abbey Road was released",
    "@jane_doe is a loser",
    "ABC 123 456 D",
    "room 101, score 3-2",
    "have a lovely day",
]


@pytest.mark.parametrize(("text", "kind", "evidence"), FOUND)
def test_finds_personal_data(text: str, kind: str, evidence: str) -> None:
    result = detect_personal_data(text)
    assert result.detected
    assert result.kinds == (kind,)
    assert [(span.kind, text[span.start : span.end]) for span in result.spans] == [(kind, evidence)]


@pytest.mark.parametrize("text", NOT_FOUND)
def test_leaves_dates_prices_references_and_versions_alone(text: str) -> None:
    assert detect_personal_data(text) == NOTHING_FOUND


def test_kinds_match_the_post_scores_schema() -> None:
    enum = schema_for("post-scores")["properties"]["doxxing"]["properties"]["kinds"]["items"]["enum"]
    assert list(KINDS) == enum


def test_several_kinds_in_schema_order_with_spans_in_text_order() -> None:
    text = "@sam 42 Elm Rd Apt 4B, Springfield, IL 62704, call 555-234-5678 or mail sam@example.com"
    result = detect_personal_data(text)
    assert result.kinds == ("phone", "email", "street_address")
    assert [span.kind for span in result.spans] == ["street_address", "phone", "email"]


def test_overlapping_findings_keep_the_more_specific_kind() -> None:
    result = detect_personal_data("write to 555-234-5678@example.com")
    assert result.kinds == ("email",)
    assert len(result.spans) == 1


def test_result_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        NOTHING_FOUND.detected = True  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    ["+" + "1" * 9_999, "1 " * 5_000, "(555) " * 1_600, "12 " + "Abc " * 2_490, "a." * 4_999 + "@", "0 12 " * 2_000],
)
def test_adversarial_posts_at_the_length_limit_stay_fast(text: str) -> None:
    # Every post goes through here: no pattern may backtrack catastrophically on hostile input.
    started = time.perf_counter()
    detect_personal_data(text)
    assert time.perf_counter() - started < 0.5

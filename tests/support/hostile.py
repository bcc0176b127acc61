"""Tables of hostile input shared by the hand-written and the property tests."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

# Every field a client can fill, with a valid value; map entries by their dotted name.
FIELD_VALUES = {
    "/register": {
        "username": "ada.lovelace",
        "password": "Correct-h0rse",
        "email": "ada@example.com",
        "phone_number": "+14155550100",
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "middle_name": "King",
        "nickname": "ada",
        "preferred_username": "countess",
        "gender": "female",
        "birthdate": "1815-12-10",
        "locale": "en-GB",
        "zoneinfo": "Europe/London",
        "website": "https://example.com/ada",
        "picture": "https://example.com/ada.png",
        "profile": "https://example.com/profile",
        "encoded_data": "eyJwYXlsb2FkIjoiZmluZ2VycHJpbnQifQ",
        "analytics_endpoint_id": "endpoint-1",
        "captcha_token": "token-1",
        "variant": "spring-b",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "launch",
        "utm_term": "signup",
        "utm_content": "hero",
        "landing_page": "/spring",
        "attributes.custom:plan": "pro",
        "validation_data.invite": "abc",
        "client_metadata.source": "web",
    },
    "/register/confirm": {
        "username": "ada.lovelace",
        "code": "123456",
        "encoded_data": "eyJwYXlsb2FkIjoiZmluZ2VycHJpbnQifQ",
        "client_metadata.source": "web",
    },
    "/register/resend": {
        "username": "ada.lovelace",
        "encoded_data": "eyJwYXlsb2FkIjoiZmluZ2VycHJpbnQifQ",
        "client_metadata.source": "web",
    },
}


BASES = {
    "/register": {"email": "ada@example.com", "password": "Correct-h0rse"},
    "/register/confirm": {"username": "ada.lovelace", "code": "123456"},
    "/register/resend": {"username": "ada.lovelace"},
}


def body_with(path: str, field: str, value: object) -> dict[str, object]:
    """The endpoint's valid body with ``field`` (dotted for a map entry) set to ``value``."""
    return body_with_changes(path, [(field, value)])


def body_with_changes(path: str, changes: list[tuple[str, object]]) -> dict[str, object]:
    body: dict[str, object] = dict(BASES[path])
    for field, value in changes:
        name, _, key = field.partition(".")
        body[name] = {key: value} if key else value
    return body


# Characters no field may contain: C0/C1 controls, format characters (bidi overrides, zero-width
# and byte-order marks) and line or paragraph separators.
FORBIDDEN = {
    "nul": "\x00",
    "escape": "\x1b",
    "delete": "\x7f",
    "next-line": "\x85",
    "right-to-left-override": "\u202e",
    "left-to-right-isolate": "\u2066",
    "zero-width-space": "\u200b",
    "byte-order-mark": "\ufeff",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "private-use": "\ue000",
    "unassigned": "\U000e0fff",
    "line-feed": "\n",
    "tab": "\t",
}


# Categories no value the service sends to Cognito may contain: controls, format characters,
# surrogates, private use, unassigned, and line or paragraph separators.
NEVER_SENT = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def strings_in(value: object) -> Iterator[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def unprintable_sent(params: dict[str, object]) -> list[str]:
    """The strings in a Cognito call's parameters that hold a character no field may contain."""
    return [
        text
        for text in strings_in(params)
        if any(unicodedata.category(char) in NEVER_SENT for char in text)
    ]

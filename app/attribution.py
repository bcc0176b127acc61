"""A/B attribution: which page variant and campaign a signup came from.

The fields are validated here as short strings of safe characters, stored on the signup record and
sent to Cognito in ClientMetadata, so a pre-sign-up or post-confirmation Lambda sees them too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError

from app.fields import Length, String
from app.messages import length_error
from app.patterns import Pattern

VARIANT_MAX = 64
TAG_MAX = 100
LANDING_PAGE_MAX = 512

# Letters, digits, spaces inside, and the few punctuation marks campaign tags use. No quotes, angle
# brackets, "&", "=", "%" or control characters: the values end up in reports and Lambdas verbatim.
_SAFE_TAG = re.compile(r"^[A-Za-z0-9._~+:@/|-](?:[A-Za-z0-9 ._~+:@/|-]*[A-Za-z0-9._~+:@/|-])?$")
# RFC 3986's unreserved and reserved characters plus "%": a URL or path, never whitespace.
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
_TAG_MESSAGE = _l("Use letters, digits, spaces and . _ ~ + : @ / | - only.")
# What landing_page_url accepts, in ECMA-262 for the OpenAPI document: a path not starting with
# "//", or an http(s) URL with a host name (the document leaves out bracketed IPv6 hosts).
_IN_URL = r"A-Za-z0-9\-._~!$&'()*+,;=%"
LANDING_PAGE_PATTERN = (
    rf"^(?:/(?!/)[{_IN_URL}:/?#\[\]@]*"
    rf"|[Hh][Tt][Tt][Pp][Ss]?://(?:[{_IN_URL}:@]*@)?[{_IN_URL}]+(?::[{_IN_URL}:]*)?"
    rf"(?:[/?#][{_IN_URL}:/?#\[\]@]*)?)$"
)


@dataclass(frozen=True)
class Attribution:
    """Where a signup came from; every field optional."""

    variant: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    landing_page: str | None = None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Attribution:
        return cls(**{name: data.get(name) for name in ATTRIBUTION_FIELDS})

    def as_metadata(self) -> dict[str, str]:
        """The fields that are set, as ClientMetadata entries under their own names."""
        return {name: value for name, value in self.as_columns().items() if value}

    def as_columns(self) -> dict[str, str | None]:
        """Every field by name, as a signup record's columns hold them.

        Not ``dataclasses.asdict``: it deep-copies, and this runs on every sign-up.
        """
        return {name: getattr(self, name) for name in ATTRIBUTION_FIELDS}


ATTRIBUTION_FIELDS = tuple(Attribution.__dataclass_fields__)


def landing_page_url(value: str) -> None:
    """A path on the site ("/spring?ref=x") or an absolute http(s) URL."""
    if not _URL_CHARACTERS.fullmatch(value):
        raise ValidationError(gettext("Send a path or an http(s) URL, percent-encoded."))
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # brackets around something that is no IPv6 address
        raise ValidationError(gettext("Send a path starting with / or an http(s) URL.")) from None
    is_path = not parts.scheme and not parts.netloc and value.startswith("/")
    is_url = parts.scheme in ("http", "https") and bool(hostname)
    if value.startswith("//") or not (is_path or is_url):
        raise ValidationError(gettext("Send a path starting with / or an http(s) URL."))


def without_query(value: str) -> str:
    """The page without its query string and fragment: they can carry emails and tokens."""
    parts = urlsplit(value)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def _tag(max_length: int, description: str) -> String:
    return String(
        validate=[
            Length(min=1, max=max_length),
            Pattern(_SAFE_TAG, error=_TAG_MESSAGE),
        ],
        metadata={"description": description},
    )


class LandingPage(String):
    """A landing page, checked as sent, then kept and forwarded without its query string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        page = super()._deserialize(value, attr, data, **kwargs)
        too_long = length_error(len(page), max_length=LANDING_PAGE_MAX)
        if too_long:
            raise ValidationError(too_long)
        landing_page_url(page)
        return without_query(page)


class AttributionFields(Schema):
    """The optional attribution fields of a sign-up form (a mixin for its schema)."""

    variant = _tag(VARIANT_MAX, "The A/B variant of the page the form was on, e.g. spring-b.")
    utm_source = _tag(TAG_MAX, "Campaign source, as in the landing page's utm_source.")
    utm_medium = _tag(TAG_MAX, "Campaign medium (utm_medium).")
    utm_campaign = _tag(TAG_MAX, "Campaign name (utm_campaign).")
    utm_term = _tag(TAG_MAX, "Campaign term (utm_term).")
    utm_content = _tag(TAG_MAX, "Campaign content (utm_content).")
    landing_page = LandingPage(
        metadata={
            "description": "The page the form was on: a path or an http(s) URL, up to "
            f"{LANDING_PAGE_MAX} characters. The query string and fragment are dropped.",
            "minLength": 1,
            "maxLength": LANDING_PAGE_MAX,
            "pattern": LANDING_PAGE_PATTERN,
        },
    )

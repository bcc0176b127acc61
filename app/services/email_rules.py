"""Which email addresses a sign-up may use: the domain rules and the sub-address rule.

Each rule only says whether an address trips it; whether that refuses the sign-up, is counted in
shadow mode or is skipped is the rule's mode (app/services/screening.py). Domains are compared in
ASCII (IDNA), and an entry covers its subdomains on whole labels: ``example.com`` matches
``mail.example.com`` but not ``badexample.com``.

The disposable domains are the ``disposable-email-domains`` list from PyPI, kept by its
maintainers and updated by a version bump in requirements.txt; its own allowlist (domains that
look disposable but are not) is honoured, and an operator's allow list wins over both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import disposable_email_domains

from app import identity
from app.config import EmailDomainSettings


def _suffixes(domain: str) -> Iterator[str]:
    """``a.b.example.com``, ``b.example.com``, ``example.com``, ``com``."""
    labels = domain.split(".")
    for start in range(len(labels)):
        yield ".".join(labels[start:])


def covered(domain: str, entries: Collection[str]) -> bool:
    """Whether ``domain`` or one of its parent domains is in ``entries``."""
    return any(suffix in entries for suffix in _suffixes(domain))


class EmailRules:
    """The email rules of one deployment, in the order they are checked."""

    def __init__(
        self,
        settings: EmailDomainSettings,
        *,
        disposable: Collection[str] = disposable_email_domains.blocklist,
        not_disposable: Collection[str] = disposable_email_domains.allowlist,
    ) -> None:
        self._allowed = settings.allowed
        self._denied = settings.denied
        self._disposable = disposable
        self._not_disposable = not_disposable

    def tripped(self, address: str) -> list[str]:
        """The rules ``address`` trips, most specific first; [] when it is not an address."""
        parts = identity.split(address)
        if parts is None:
            return []
        domain = parts[1]
        rules = []
        if self._denied and covered(domain, self._denied):
            rules.append("email_denylist")
        if self._allowed and not covered(domain, self._allowed):
            rules.append("email_allowlist")
        if self._is_disposable(domain):
            rules.append("disposable_email")
        if identity.has_subaddress(address):
            rules.append("email_subaddress")
        return rules

    def _is_disposable(self, domain: str) -> bool:
        if covered(domain, self._allowed) or covered(domain, self._not_disposable):
            return False
        return covered(domain, self._disposable)

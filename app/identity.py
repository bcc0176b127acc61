"""Who signs up: a username as Cognito compares it, an email's domain in ASCII, whose mailbox it is.

Cognito keeps a username or an address as typed; the service compares them in ways of its own:

- ``normalised_identity``: the username as Cognito compares it by default, for the sign-in slot.
- ``ascii_domain``: the domain as IDNA (UTS #46) writes it, lower case, so a rule written as
  ``bücher.example`` also matches ``xn--bcher-kva.example`` and the other way round.
- ``canonical_identity``: one key per mailbox for the per-identity budget and the signup records,
  so ``Ann.Smith+1@gmail.com`` and ``ANNSMITH@googlemail.com`` count as one person.
"""

from __future__ import annotations

import unicodedata

import idna

# Providers whose mailboxes ignore dots in the local part, and the domain they all deliver to.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def ascii_domain(domain: str) -> str:
    """``domain`` in lower-case ASCII (IDNA); ValueError when it is not a host name."""
    name = domain.strip().rstrip(".")
    if not name:
        raise ValueError("empty domain")
    try:
        return idna.encode(name, uts46=True).decode("ascii").lower()
    except idna.IDNAError as error:
        raise ValueError(f"not a domain: {error}") from None


def split(address: str) -> tuple[str, str] | None:
    """(local part, ASCII domain), or None when ``address`` is not an email address."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return None
    try:
        return local, ascii_domain(domain)
    except ValueError:
        return None


def has_subaddress(address: str) -> bool:
    """Whether the address carries a ``+tag`` (RFC 5233 sub-addressing)."""
    parts = split(address)
    return parts is not None and "+" in parts[0].strip('"')


def normalised_identity(username: str) -> str:
    """The username as Cognito compares it by default: case-insensitively, NFKC-normalised."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def canonical_identity(identity: str) -> str:
    """The key one person's spellings share: the normalised identity; for an email address also
    without ``+tag`` and, at Gmail, without dots. A username or phone number is only normalised.

    Only for counting and linking (budgets, records): Cognito gets what the person typed.
    """
    folded = normalised_identity(identity)
    parts = split(folded)
    if parts is None:
        return folded
    local, domain = parts
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        local, domain = local.replace(".", "") or local, _DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"

"""The rules a sign-up passes before it spends a budget, each in its mode.

In order: the honeypot, the email rules (app/services/email_rules.py), the captcha, then the
breached-password check: the cheap local rules first, the calls to other services last, so a bot
stopped by one costs no request to the next. Every rule has a mode, ``SIGNUP_RULE_<RULE>``:

- ``enforce``: the rule refuses (``Refused``); the service records the attempt as refused.
- ``shadow``: the request goes on as if the rule passed; the trip is counted in the metrics and
  kept on the sign-up's record, so an operator learns what the rule would refuse before it does.
- ``off``: the rule is not checked at all.

The per-identity budget has a mode too; it is spent later, with the other budgets.
"""

from __future__ import annotations

import logging

from flask_babel import gettext

from app import errors
from app.breached import BreachedPasswords, Exposure
from app.captcha import CaptchaVerifier, Verdict
from app.config import RuleModes
from app.identity import normalised_identity
from app.schemas import SignupRequest
from app.services.email_rules import EmailRules
from app.telemetry import metrics
from app.telemetry.tracing import span

logger = logging.getLogger(__name__)

CAPTCHA_RETRY_AFTER_SECONDS = 5
PASSWORD_CHECK_RETRY_AFTER_SECONDS = 5
# The answer to an address each email rule refuses; the honeypot's answer is a pretended success.
_EMAIL_ERRORS: dict[str, type[errors.InvalidFields]] = {
    "email_denylist": errors.EmailDomainDenied,
    "email_allowlist": errors.EmailDomainNotAllowed,
    "disposable_email": errors.DisposableEmail,
    "email_subaddress": errors.EmailSubaddress,
}


class Refused(Exception):
    """A rule in enforce mode refused the request.

    ``error`` is the answer, or None when the client is told the sign-up went through (the
    honeypot); ``shadowed`` are the rules tripped in shadow mode before it.
    """

    def __init__(self, rule: str, error: errors.APIError | None, shadowed: tuple[str, ...]):
        super().__init__(rule)
        self.rule = rule
        self.error = error
        self.shadowed = shadowed


class Trips:
    """The rules one request tripped so far; ``trip`` refuses, counts or ignores by mode."""

    def __init__(self, modes: RuleModes) -> None:
        self._modes = modes
        self.shadowed: list[str] = []

    def mode(self, rule: str) -> str:
        return self._modes.of(rule)

    def checks(self, rule: str) -> bool:
        """Whether ``rule`` is to be checked at all (its mode is not off)."""
        return self._modes.of(rule) != "off"

    def trip(self, rule: str, error: errors.APIError | None) -> None:
        mode = self._modes.of(rule)
        if mode == "off":
            return
        metrics.count_rule_trip(rule, mode)
        if mode == "enforce":
            raise Refused(rule, error, tuple(self.shadowed))
        logger.info("Rule %s tripped in shadow mode: the request goes on", rule)
        if rule not in self.shadowed:
            self.shadowed.append(rule)


class Screening:
    """The rules before the budgets, for one deployment."""

    def __init__(
        self,
        modes: RuleModes,
        *,
        email_rules: EmailRules,
        captcha: CaptchaVerifier | None = None,
        breached_passwords: BreachedPasswords | None = None,
    ) -> None:
        self._modes = modes
        self._email_rules = email_rules
        self._captcha = captcha
        self._breached = breached_passwords

    def trips(self) -> Trips:
        return Trips(self._modes)

    def sign_up(self, signup: SignupRequest, ip_address: str | None, trips: Trips) -> None:
        """Every rule before the budgets; raises Refused for the first enforced one tripped."""
        if signup.honeypot_filled:
            trips.trip("honeypot", None)
        for field, address in _addresses(signup):
            for rule in self._email_rules.tripped(address):
                error = _EMAIL_ERRORS[rule]
                trips.trip(rule, error(fields={field: [error.description]}))
        if self._captcha is not None and trips.checks("captcha"):
            self._check_captcha(signup, ip_address, trips)
        if self._breached is not None and signup.password and trips.checks("breached_password"):
            self._check_password(signup.password, trips)

    def _check_captcha(self, signup: SignupRequest, ip_address: str | None, trips: Trips) -> None:
        assert self._captcha is not None
        field = signup.captcha_field
        if not signup.captcha_token:
            trips.trip(
                "captcha", errors.CaptchaFailed(fields={field: [gettext("Complete the captcha.")]})
            )
            return
        with span("signup.captcha", {"signup.captcha.provider": self._captcha.provider}):
            verdict = self._captcha.verify(signup.captcha_token, ip_address)
        if verdict is Verdict.REJECTED:
            failed = errors.CaptchaFailed(fields={field: [errors.CaptchaFailed.description]})
            trips.trip("captcha", failed)
        elif verdict is Verdict.UNAVAILABLE:
            self._without_verdict(
                "Captcha provider",
                self._captcha.fail_open,
                errors.CaptchaUnavailable(retry_after=CAPTCHA_RETRY_AFTER_SECONDS),
                self._modes.of("captcha") == "enforce",
            )

    def _check_password(self, password: str, trips: Trips) -> None:
        assert self._breached is not None
        with span("signup.breached_password"):
            exposure = self._breached.check(password)
        if exposure is Exposure.BREACHED:
            breached = errors.BreachedPassword(
                fields={"password": [errors.BreachedPassword.description]}
            )
            trips.trip("breached_password", breached)
        elif exposure is Exposure.UNAVAILABLE:
            self._without_verdict(
                "Breached-password check",
                self._breached.fail_open,
                errors.PasswordCheckUnavailable(retry_after=PASSWORD_CHECK_RETRY_AFTER_SECONDS),
                self._modes.of("breached_password") == "enforce",
            )

    @staticmethod
    def _without_verdict(
        what: str, fail_open: bool, outage: errors.APIError, enforced: bool
    ) -> None:
        """A check that got no verdict: refused only when enforced and its policy fails closed."""
        if enforced and not fail_open:
            raise outage
        why = "fail-open policy" if enforced else "shadow mode"
        logger.warning("%s unavailable: sign-up let through (%s)", what, why)


def _addresses(signup: SignupRequest) -> list[tuple[str, str]]:
    """The email addresses a sign-up gives, with the field each came in."""
    email = signup.attributes.get("email")
    found = [("email", email)] if email else []
    same = email is not None and normalised_identity(email) == normalised_identity(signup.username)
    if "@" in signup.username and not same:
        found.append(("username", signup.username))
    return found

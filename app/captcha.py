"""Captcha verification with the provider's siteverify endpoint: Turnstile, hCaptcha, reCAPTCHA.

All three speak one protocol: a form-encoded POST of ``secret``, ``response`` (the widget's token)
and ``remoteip``, answered with JSON holding ``success`` and ``error-codes``. This module turns
that exchange into a verdict; what to do with an unavailable provider is the service's policy.
"""

from __future__ import annotations

import enum
import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlencode

from app.config import CaptchaSettings

logger = logging.getLogger(__name__)

# error-codes that mean our side is misconfigured or the provider failed, not that the person
# failed the challenge: treated as an outage and logged loudly.
_OUR_FAULT = frozenset(
    {
        "missing-input-secret",
        "invalid-input-secret",
        "invalid-parsed-secret",
        "invalid-widget-id",
        "sitekey-secret-mismatch",
        "bad-request",
        "internal-error",
    }
)


class Verdict(enum.Enum):
    PASSED = "passed"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"


class CaptchaVerifier:
    """Asks the provider whether a token is genuine; one instance per process."""

    def __init__(self, settings: CaptchaSettings) -> None:
        self._settings = settings

    @property
    def provider(self) -> str:
        return self._settings.provider

    @property
    def fail_open(self) -> bool:
        """Whether sign-ups go on without a verdict while the provider is unavailable."""
        return self._settings.fail_open

    def verify(self, token: str, remote_ip: str | None) -> Verdict:
        form = {"secret": self._settings.secret.reveal(), "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        request = urllib.request.Request(  # noqa: S310 - the URL is a setting, http(s) only
            self._settings.verify_url,
            data=urlencode(form).encode("ascii"),
            headers={"Accept": "application/json"},
            method="POST",
        )
        timeout = self._settings.timeout_seconds
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            error.close()
            logger.warning("Captcha siteverify (%s) answered HTTP %s", self.provider, error.code)
            return Verdict.UNAVAILABLE
        except (OSError, ValueError) as error:
            # Timeouts, refused connections and non-JSON answers alike: the provider is not usable.
            logger.warning(
                "Captcha siteverify (%s) failed: %s", self.provider, type(error).__name__
            )
            return Verdict.UNAVAILABLE
        return self._verdict(answer)

    def _verdict(self, answer: object) -> Verdict:
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            logger.warning("Captcha siteverify (%s) answered without 'success'", self.provider)
            return Verdict.UNAVAILABLE
        if answer["success"]:
            return Verdict.PASSED
        codes = answer.get("error-codes")
        codes = [str(code) for code in codes] if isinstance(codes, list) else []
        ours = sorted(_OUR_FAULT.intersection(codes))
        if ours:
            logger.error(
                "Captcha siteverify (%s) refused our request with %s: check "
                "SIGNUP_CAPTCHA_SECRET and the provider's configuration",
                self.provider,
                ", ".join(ours),
            )
            return Verdict.UNAVAILABLE
        logger.info("Captcha rejected (%s): %s", self.provider, ", ".join(codes) or "no code")
        return Verdict.REJECTED

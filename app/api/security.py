"""What the service tells browsers: security headers on every answer, and whose forms it takes.

Every answer is ``nosniff`` with a ``strict-origin-when-cross-origin`` referrer policy, and
``Strict-Transport-Security`` once SIGNUP_BEHIND_TLS says a TLS proxy is in front. Pages add a
strict Content-Security-Policy (our own scripts and styles, plus Cognito's advanced-security
script; nothing inline), framing only by the landing pages in SIGNUP_CORS_ORIGINS, and
``Cross-Origin-Opener-Policy: same-origin``. The sign-up endpoints' answers hold a person's masked
address, or echo what they typed: ``Cache-Control: no-store``.

A browser's plain form may be posted to the sign-up endpoints only from this service's own pages
or an allowlisted landing page: its ``Origin`` (or, without one, its ``Referer``) must say so.
A post with neither comes from no browser (curl, a server) and cannot be forged by a web page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request
from secure import (
    CacheControl,
    ContentSecurityPolicy,
    CrossOriginOpenerPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)

from app import errors
from app.api.negotiation import is_form
from app.config import Settings, origin_of

SIGN_UP_BLUEPRINT = "register"
HSTS_SECONDS = 365 * 24 * 3600
ADVANCED_SECURITY_ORIGIN = "https://amazon-cognito-assets.{region}.amazoncognito.com"
_DEFAULT_PORTS = (":80", ":443")


class BrowserPolicy:
    """The headers of every answer, of pages, and of answers about a person; and form origins."""

    def __init__(self, settings: Settings) -> None:
        self.landing_origins = settings.cors_origins
        self_ = ContentSecurityPolicy.keyword("self")
        scripts = [self_]
        if settings.cognito is not None:
            scripts.append(ADVANCED_SECURITY_ORIGIN.format(region=settings.cognito.region))
        landing = sorted(self.landing_origins)
        csp = (
            ContentSecurityPolicy()
            .default_src(self_)
            .script_src(*scripts)
            .style_src(self_)
            .img_src(self_, "data:")
            .connect_src(self_)
            .object_src(ContentSecurityPolicy.keyword("none"))
            .base_uri(ContentSecurityPolicy.keyword("none"))
            # A form's redirect_to may lead to a landing page: form-action covers redirects too.
            .form_action(self_, *landing)
            .frame_ancestors(*landing or [ContentSecurityPolicy.keyword("none")])
        )
        self._every = Secure(
            xcto=XContentTypeOptions(),
            referrer=ReferrerPolicy().strict_origin_when_cross_origin(),
            hsts=StrictTransportSecurity().max_age(HSTS_SECONDS) if settings.behind_tls else None,
        )
        self._pages = Secure(
            csp=csp,
            coop=CrossOriginOpenerPolicy().same_origin(),
            # For browsers that predate frame-ancestors; it cannot name an allowlist.
            xfo=None if landing else XFrameOptions().deny(),
        )
        self._personal = Secure(cache=CacheControl().no_store())
        for headers in (self._every, self._pages, self._personal):
            headers.validate_and_normalize_headers(on_invalid="raise", strict=True)

    def apply(self, response: Response) -> Response:
        """after_request: the headers this answer needs."""
        self._every.set_headers(response)
        if response.mimetype == "text/html":
            own = response.headers.get("Content-Security-Policy")  # a page with its own policy
            self._pages.set_headers(response)
            if own is not None:
                response.headers["Content-Security-Policy"] = own
        if request.blueprint == SIGN_UP_BLUEPRINT:
            self._personal.set_headers(response)
        return response

    def check_form_origin(self) -> None:
        """before_request: refuse a browser's form posted from a page on another origin."""
        if request.blueprint != SIGN_UP_BLUEPRINT or request.method != "POST":
            return
        if not is_form(request):
            return  # JSON from another origin needs CORS, which only the allowlist is granted
        sent = request.headers.get("Origin")
        if sent is None:
            sent = request.headers.get("Referer")
            if sent is None:
                return
        origin = origin_of(sent)
        if origin is None or not (origin in self.landing_origins or _is_own(origin)):
            raise errors.CrossOriginForm()


def _is_own(origin: str) -> bool:
    """Whether ``origin`` is this service's as the browser reached it (the Host it sent).

    The scheme is not compared: behind a TLS proxy the service sees http while the browser sent
    https, and no web page can post from our host on another scheme without owning the network.
    """
    host = request.host.lower()
    for port in _DEFAULT_PORTS:
        host = host.removesuffix(port)
    return urlsplit(origin).netloc == host


def init_app(app: Flask, settings: Settings) -> None:
    policy = BrowserPolicy(settings)
    app.before_request(policy.check_form_origin)
    app.after_request(policy.apply)

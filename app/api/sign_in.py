"""How the sign-in after confirming reaches each kind of client.

- **API clients** (mobile apps, servers): the /register answer carries ``sign_in_handle``; they
  send it back with /register/confirm and get the tokens in the confirm answer's body.
- **Browsers** (plain forms and signup.js): page scripts never see a handle or a token. The
  handle is an HttpOnly ``__Host-`` cookie, sent back only to this host; the tokens are
  HttpOnly, Secure cookies whose names, domain and paths are settings (SIGNUP_TOKEN_COOKIE_*),
  the refresh token's path narrow.

A request is a browser's when it is a form post or carries ``Origin`` or ``Sec-Fetch-Site``:
browsers add those to every fetch and form post, and page scripts cannot remove them, so a script
can never ask for the tokens in a body it could read.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from app import errors
from app.api.negotiation import is_form
from app.cognito import AuthTokens
from app.config import SignInSettings
from app.schemas import SIGN_IN_HANDLE_PATTERN

# __Host-: only this host, Path=/, Secure; no sibling subdomain can set or overwrite it.
HANDLE_COOKIE = "__Host-signup-handle"
CONFIRM_ENDPOINT = "register.confirm"
SETTINGS = "SIGNUP_SIGN_IN"  # where the app keeps its SignInSettings

# The OpenAPI document's words for the cookies.
HANDLE_SET_COOKIE_DOC = {
    "Set-Cookie": {
        "description": f"Browsers: `{HANDLE_COOKIE}`, the sign-up's handle (HttpOnly, Secure, "
        "SameSite=Strict, Path=/), for the sign-in window (SIGNUP_SIGN_IN_WINDOW).",
        "schema": {"type": "string"},
    }
}
HANDLE_COOKIE_PARAMETER = {
    "in": "cookie",
    "name": HANDLE_COOKIE,
    "required": False,
    "schema": {"type": "string", **SIGN_IN_HANDLE_PATTERN},
    "description": "Browsers: the handle /register set. The browser sends it by itself.",
}
TOKEN_SET_COOKIES_DOC = {
    "Set-Cookie": {
        "description": "Browsers signed in: the access, id and refresh tokens, each HttpOnly, "
        "Secure, SameSite (SIGNUP_TOKEN_COOKIE_SAMESITE), named and scoped by the "
        "SIGNUP_*_TOKEN_COOKIE* settings; the refresh token only on its own narrow path. The "
        "handle cookie is removed.",
        "schema": {"type": "string"},
    }
}


def is_browser() -> bool:
    return is_form(request) or "Origin" in request.headers or "Sec-Fetch-Site" in request.headers


def settings() -> SignInSettings:
    return current_app.config[SETTINGS]


def handle_from_cookie() -> str | None:
    return request.cookies.get(HANDLE_COOKIE) or None


def give_handle(response: Response, handle: str) -> None:
    """The sign-up's handle, for this browser only, for as long as the Session is kept."""
    response.set_cookie(
        HANDLE_COOKIE,
        handle,
        max_age=int(settings().window.total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict",
    )


def give_tokens(response: Response, tokens: AuthTokens) -> None:
    """The tokens, as cookies no page script can read; the handle that got them is spent."""
    forget_handle(response)
    cookies = settings().cookies
    common = {
        "domain": cookies.domain,
        "secure": True,
        "httponly": True,
        "samesite": cookies.same_site,
    }
    for name, token in (
        (cookies.access_name, tokens.access_token),
        (cookies.id_name, tokens.id_token),
    ):
        response.set_cookie(name, token, max_age=tokens.expires_in, path=cookies.path, **common)
    if tokens.refresh_token:
        response.set_cookie(
            cookies.refresh_name,
            tokens.refresh_token,
            max_age=int(cookies.refresh_max_age.total_seconds()),
            path=cookies.refresh_path,
            **common,
        )


def forget_handle(response: Response) -> None:
    response.delete_cookie(HANDLE_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")


def _forget_bad_handle(response: Response) -> Response:
    """after_request: a handle cookie refused as bad goes, so the form sent again confirms.

    A handle that signed nobody in stays: it may be for another of this browser's sign-ups,
    and it expires with the window anyway.
    """
    if (
        request.endpoint == CONFIRM_ENDPOINT
        and handle_from_cookie() is not None
        and isinstance(errors.current_error(), errors.InvalidSignInHandle)
    ):
        forget_handle(response)
    return response


def init_app(app: Flask, sign_in: SignInSettings) -> None:
    app.config[SETTINGS] = sign_in
    app.config["SIGNUP_PASSWORDLESS"] = sign_in.passwordless
    app.after_request(_forget_bad_handle)

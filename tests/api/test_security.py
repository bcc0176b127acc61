"""Security headers on every kind of answer, and forms taken only from our pages and landing pages.

The browser's side (no CSP violation on our pages, framing allowed or refused) is in
tests/api/test_browser.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import signup_body

LANDING = "https://landing.example"
FORM = {"email": "ada@example.com", "password": "Correct-h0rse"}
PAGE = {"Accept": "text/html"}


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


# Every kind of answer: pages, JSON, errors, documents, assets.
ANSWERS = {
    "demo page": lambda client: client.get("/"),
    "docs page": lambda client: client.get("/docs"),
    "form post answered with a page": lambda client: client.post(
        "/register", data=FORM, headers=PAGE
    ),
    "form error page": lambda client: client.post(
        "/register", data={**FORM, "password": "x"}, headers=PAGE
    ),
    "JSON sign-up": lambda client: client.post("/register", json=signup_body()),
    "JSON error": lambda client: client.post("/register", json={}),
    "not found": lambda client: client.get("/nope"),
    "OpenAPI document": lambda client: client.get("/openapi.json"),
    "script": lambda client: client.get("/static/signup.js"),
    "probe": lambda client: client.get("/healthz"),
    "metrics": lambda client: client.get("/metrics"),
}


def answer(client, kind: str):
    """The answer of that kind, its body closed (a static file's is an open file)."""
    response = ANSWERS[kind](client)
    response.close()
    return response


PAGES = {"demo page", "docs page", "form post answered with a page", "form error page"}
ABOUT_A_PERSON = {"form post answered with a page", "form error page", "JSON sign-up", "JSON error"}


@pytest.mark.parametrize("kind", sorted(ANSWERS))
def test_every_answer_is_nosniff_with_a_strict_referrer_policy(client, cognito, kind):
    response = answer(client, kind)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # not told it is behind TLS


@pytest.mark.parametrize("kind", sorted(PAGES))
def test_every_page_has_a_strict_content_security_policy(client, cognito, kind):
    response = answer(client, kind)

    assert response.mimetype == "text/html"
    policy = directives(response)
    region_script = f"https://amazon-cognito-assets.{cognito.region}.amazoncognito.com"
    assert policy["script-src"] == ["'self'", region_script]  # nothing inline, no other host
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]  # no landing pages configured
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize("kind", sorted(set(ANSWERS) - PAGES))
def test_answers_that_are_not_pages_carry_no_page_policy(client, cognito, kind):
    response = answer(client, kind)

    assert response.mimetype != "text/html"
    assert "Content-Security-Policy" not in response.headers


@pytest.mark.parametrize("kind", sorted(ABOUT_A_PERSON))
def test_answers_about_a_person_are_never_stored(client, cognito, kind):
    response = answer(client, kind)

    assert response.headers["Cache-Control"] == "no-store"


def test_the_demo_page_may_be_cached(client, cognito):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")


def test_landing_pages_may_frame_the_pages_and_receive_their_forms(make_app, cognito):
    client = make_app(SIGNUP_CORS_ORIGINS=f"{LANDING},https://other.example").test_client()

    response = client.get("/")

    policy = directives(response)
    assert policy["frame-ancestors"] == ["https://landing.example", "https://other.example"]
    assert policy["form-action"] == ["'self'", "https://landing.example", "https://other.example"]
    assert "X-Frame-Options" not in response.headers  # it cannot name an allowlist


def test_behind_tls_every_answer_asks_for_https_only(make_app, cognito):
    client = make_app(SIGNUP_BEHIND_TLS="true").test_client()

    for response in (client.get("/"), client.get("/healthz")):
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_without_a_user_pool_the_pages_allow_no_other_script(make_app, cognito, monkeypatch):
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET"):
        monkeypatch.delenv(name)

    assert directives(make_app().test_client().get("/"))["script-src"] == ["'self'"]


# Whose forms are taken


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost"},  # the service's own page (the test client's host)
        {"Referer": "http://localhost/"},
        {"Origin": LANDING},
        {"Referer": f"{LANDING}/spring-offer?utm_source=x"},
        {},  # no browser: curl, a server
    ],
    ids=["own origin", "own referer", "landing origin", "landing referer", "neither"],
)
def test_forms_from_our_pages_and_landing_pages_are_taken(make_app, cognito, headers):
    client = make_app(SIGNUP_CORS_ORIGINS=LANDING).test_client()

    response = client.post(
        "/register", data=FORM, headers={"Accept": "application/json", **headers}
    )

    assert response.status_code == 201
    assert len(cognito.calls("SignUp")) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {"Origin": "https://landing.example.evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "https://evil.example", "Referer": f"{LANDING}/"},  # Origin decides
    ],
    ids=["other origin", "opaque origin", "look-alike", "other referer", "origin over referer"],
)
@pytest.mark.parametrize("path", ["/register", "/register/confirm", "/register/resend"])
def test_forms_from_other_origins_are_refused_before_anything_happens(
    make_app, cognito, headers, path
):
    client = make_app(SIGNUP_CORS_ORIGINS=LANDING).test_client()

    response = client.post(path, data=FORM, headers={"Accept": "application/json", **headers})

    assert response.status_code == 403
    assert response.json["code"] == "cross_origin_form"
    assert cognito.received == []
    assert "X-RateLimit-Remaining" not in response.headers  # no per-IP budget spent


def test_a_browser_sent_a_refused_form_gets_a_page(make_app, cognito):
    client = make_app().test_client()

    response = client.post(
        "/register", data=FORM, headers={**PAGE, "Origin": "https://evil.example"}
    )

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "only be sent from this site" in response.get_data(True)
    assert response.headers["Cache-Control"] == "no-store"


def test_json_from_another_origin_is_left_to_cors(client, cognito):
    response = client.post(
        "/register", json=signup_body(), headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 201  # a browser would have stopped at the preflight
    assert "Access-Control-Allow-Origin" not in response.headers

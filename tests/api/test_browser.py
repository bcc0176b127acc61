"""In a real headless Chromium: the demo page, signup.js, the no-JavaScript path and the docs.

Debian's chromium (/usr/bin/chromium) driven by Playwright; no browser is ever downloaded. The app
serves on a real port against the strict Cognito double. There is no internet here, so requests
for AWS's advanced-security script are answered by the test: refused, or with a stand-in script.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from app import create_app
from tests.conftest import GENEROUS_LIMITS
from tests.support import databases, pwned_range
from tests.support.cognito_double import CognitoDouble
from tests.support.servers import free_port, serving

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
ADVANCED_SECURITY = re.compile(r"https://amazon-cognito-assets\..*\.amazoncognito\.com/.*")
PASSWORD = "Correct-h0rse"
SIGN_IN_URL = "https://app.example.com/sign-in"
HANDLE_COOKIE = "__Host-signup-handle"
TOKEN_COOKIES = ("access_token", "id_token", "refresh_token")


LANDING_PORT = free_port()
LANDING = f"http://127.0.0.1:{LANDING_PORT}"


def served(cognito_server: CognitoDouble, database: Path, sqlite_template, **settings: str):
    """The app talking to ``cognito_server``, on a real port."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in cognito_server.settings().items():
            env.setenv(name, value)
        app = create_app(
            {
                "SIGNUP_CORS_ORIGINS": LANDING,
                "SIGNUP_SIGN_IN_URL": SIGN_IN_URL,
                "COGNITO_TIMEOUT_SECONDS": "3",
                "DATABASE_URL": databases.copy_sqlite(sqlite_template, database),
                "SIGNUP_BREACHED_PASSWORD_URL": pwned_range.shared().url,
                **GENEROUS_LIMITS,
                **settings,
            }
        )
    return serving(app)


@pytest.fixture(scope="module")
def service(cognito_server: CognitoDouble, sqlite_template, tmp_path_factory) -> Iterator[str]:
    """The app on a real port, allowing the landing page's origin."""
    database = tmp_path_factory.mktemp("browser") / "signups.db"
    with served(cognito_server, database, sqlite_template) as base:
        yield base


@pytest.fixture(scope="module")
def passwordless_service(
    cognito_server: CognitoDouble, sqlite_template, tmp_path_factory
) -> Iterator[str]:
    """The app with SIGNUP_PASSWORDLESS=true: an email is enough to sign up."""
    database = tmp_path_factory.mktemp("browser-passwordless") / "signups.db"
    with served(cognito_server, database, sqlite_template, SIGNUP_PASSWORDLESS="true") as base:
        yield base


@pytest.fixture
def page(browser, service, cognito):
    """A phone-sized page; AWS's script cannot be fetched, as on any machine without internet."""
    context = browser.new_context(viewport=PHONE)
    context.route(ADVANCED_SECURITY, lambda route: route.abort())
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


@pytest.fixture
def no_js_page(browser, service, cognito):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def sign_up(page, email: str = "ada@example.com", password: str = PASSWORD) -> None:
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create account").click()


def confirm(page, code: str) -> None:
    page.get_by_label("Confirmation code").fill(code)
    page.get_by_role("button", name="Confirm").click()


def cookies(page) -> dict[str, dict]:
    """The cookies the page's browser context holds, HttpOnly ones included, by name."""
    return {cookie["name"]: cookie for cookie in page.context.cookies()}


def claims(jwt: str) -> dict:
    """A JWT's payload, unverified (the signature is checked in the Cognito double's tests)."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def assert_hidden_from_scripts(page, held: dict[str, dict]) -> None:
    """No page script can read these cookies, by name or by value."""
    readable = page.evaluate("() => document.cookie")
    for name, cookie in held.items():
        assert name not in readable
        assert cookie["value"] not in readable


def assert_has_handle(page) -> dict[str, dict]:
    """After /register: the handle, kept by Chromium from http://127.0.0.1 although Secure."""
    held = cookies(page)
    handle = held[HANDLE_COOKIE]
    assert handle["httpOnly"]
    assert handle["secure"]
    assert handle["sameSite"] == "Strict"
    assert handle["path"] == "/"
    assert handle["domain"] == "127.0.0.1"  # host-only
    return {HANDLE_COOKIE: handle}


def assert_signed_in(page, cognito, email: str) -> dict[str, dict]:
    """The browser holds the tokens as HttpOnly, Secure cookies, and the handle is spent."""
    held = cookies(page)
    assert HANDLE_COOKIE not in held
    tokens = {name: held[name] for name in TOKEN_COOKIES}
    for cookie in tokens.values():
        assert cookie["httpOnly"], cookie["name"]
        assert cookie["secure"], cookie["name"]
        assert cookie["domain"] == "127.0.0.1"
    assert tokens["access_token"]["path"] == "/"
    assert tokens["id_token"]["path"] == "/"
    assert tokens["refresh_token"]["path"] == "/auth/refresh"
    assert claims(tokens["id_token"]["value"])["sub"] == cognito.sub_for(email)
    assert claims(tokens["access_token"]["value"])["sub"] == cognito.sub_for(email)
    html = page.content()
    for cookie in tokens.values():
        assert cookie["value"] not in html
    return tokens


def described_by(page, label: str) -> str:
    """The text of what the field labelled ``label`` is described by (hint and errors)."""
    field = page.get_by_label(label, exact=True)
    ids = (field.get_attribute("aria-describedby") or "").split()
    return " ".join(page.locator(f"#{element_id}").inner_text() for element_id in ids)


def test_sign_up_then_confirm_with_javascript(page, service, cognito):
    page.goto(f"{service}/")
    sign_up(page)

    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert page.get_by_text("a***@e***").is_visible()
    assert page.get_by_label("Confirmation code").evaluate("el => el === document.activeElement")
    page.get_by_label("Confirmation code").fill(cognito.code_for("ada@example.com"))
    page.get_by_role("button", name="Confirm").click()

    page.get_by_role("heading", name="You're all set").wait_for()
    assert page.get_by_text("you're signed in").is_visible()
    assert page.url == f"{service}/"  # all of it by fetch, on one page
    # AWS's script could not load: the sign-up went ahead without a fingerprint.
    assert "EncodedData" not in cognito.calls("SignUp")[0].params.get("UserContextData", {})


def test_confirming_with_javascript_signs_in_with_cookies_no_script_can_read(
    page, service, cognito
):
    bodies: list = []
    page.on("response", lambda response: bodies.append(response))
    page.goto(f"{service}/")
    sign_up(page)
    page.get_by_role("heading", name="Check your inbox").wait_for()
    handle = assert_has_handle(page)
    assert_hidden_from_scripts(page, handle)

    confirm(page, cognito.code_for("ada@example.com"))

    page.get_by_role("heading", name="You're all set").wait_for()
    assert page.locator("[data-signup-signed-in]").is_visible()
    assert page.locator("[data-signup-not-signed-in]").is_hidden()
    tokens = assert_signed_in(page, cognito, "ada@example.com")
    assert_hidden_from_scripts(page, {**tokens, **handle})
    answered = "".join(response.text() for response in bodies if response.url.startswith(service))
    assert '"signed_in":true' in answered.replace(" ", "")
    for cookie in tokens.values():  # not in any answer a script could read either
        assert cookie["value"] not in answered
    (sign_in,) = cognito.calls("InitiateAuth")
    assert sign_in.params["AuthFlow"] == "USER_AUTH"


def test_a_field_error_shows_beside_its_field(page, service, cognito):
    page.goto(f"{service}/")
    sign_up(page, password="weakpassword1")

    password = page.get_by_label("Password")
    password.and_(page.locator("[aria-invalid=true]")).wait_for()
    assert "Add an uppercase letter." in described_by(page, "Password")
    assert password.evaluate("el => el === document.activeElement")
    assert "Some fields are not valid." in page.get_by_role("alert").first.inner_text()
    assert page.get_by_role("heading", name="Create your account").is_visible()


def test_a_breached_password_is_explained_beside_the_password(page, service, cognito):
    page.goto(f"{service}/")
    sign_up(page, password="Password1!")

    page.get_by_label("Password").and_(page.locator("[aria-invalid=true]")).wait_for()
    assert "This password has appeared in a data breach" in described_by(page, "Password")
    assert cognito.calls("SignUp") == []


def test_fixing_the_error_clears_it(page, service, cognito):
    page.goto(f"{service}/")
    sign_up(page, password="weakpassword1")
    page.locator("[aria-invalid=true]").wait_for()

    sign_up(page)

    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert page.locator("[aria-invalid=true]").count() == 0


def test_a_429_says_how_long_to_wait_and_holds_the_button(page, service, cognito):
    page.goto(f"{service}/")
    sign_up(page)
    page.get_by_role("heading", name="Check your inbox").wait_for()
    cognito.fail_next("ConfirmSignUp", "TooManyFailedAttemptsException")

    page.get_by_label("Confirmation code").fill("123456")
    page.get_by_role("button", name="Confirm").click()

    page.get_by_text("Please wait 60 seconds").wait_for()
    assert page.locator("form[data-signup=confirm] button").is_disabled()


def test_a_short_retry_after_gives_the_button_back(page, service, cognito):
    page.goto(f"{service}/")
    cognito.fail_next("SignUp", "TooManyRequestsException")  # 503, Retry-After: 1
    sign_up(page)

    button = page.locator("form[data-signup=register] button")
    page.get_by_text("Please wait 1 seconds").wait_for()
    assert button.is_disabled()
    page.wait_for_function(
        "() => !document.querySelector('form[data-signup=register] button').disabled",
        timeout=5_000,
    )
    assert button.inner_text() == "Create account"


def test_the_advanced_security_data_is_sent_when_the_script_loads(browser, service, cognito):
    context = browser.new_context(viewport=PHONE)
    stand_in = (
        "window.AmazonCognitoAdvancedSecurityData = {getData: "
        "function (user, pool, client) { return 'FP:' + user + ':' + pool + ':' + client; }};"
    )
    context.route(
        ADVANCED_SECURITY,
        lambda route: route.fulfill(body=stand_in, content_type="application/javascript"),
    )
    page = context.new_page()
    try:
        page.goto(f"{service}/")
        page.wait_for_function("() => window.AmazonCognitoAdvancedSecurityData")
        sign_up(page)
        page.get_by_role("heading", name="Check your inbox").wait_for()
    finally:
        context.close()

    sent = cognito.calls("SignUp")[0].params["UserContextData"]["EncodedData"]
    assert sent == f"FP:ada@example.com:{cognito.user_pool_id}:{cognito.client_id}"


# Without JavaScript


def test_sign_up_then_confirm_without_javascript(no_js_page, service, cognito):
    page = no_js_page
    page.goto(f"{service}/")
    sign_up(page)

    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert page.get_by_label("Email or username").input_value() == "ada@example.com"
    page.get_by_label("Confirmation code").fill(cognito.code_for("ada@example.com"))
    page.get_by_role("button", name="Confirm").click()

    page.get_by_role("heading", name="You're signed in").wait_for()


def test_confirming_without_javascript_signs_in_with_cookies(no_js_page, service, cognito):
    page = no_js_page
    page.goto(f"{service}/")
    sign_up(page)
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert_has_handle(page)

    confirm(page, cognito.code_for("ada@example.com"))

    page.get_by_role("heading", name="You're signed in").wait_for()
    assert page.url == f"{service}/register/confirm"
    assert_signed_in(page, cognito, "ada@example.com")


def test_a_code_typed_in_another_browser_confirms_but_signs_nobody_in(
    browser, page, service, cognito
):
    page.goto(f"{service}/")
    sign_up(page)
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert_has_handle(page)
    code = cognito.code_for("ada@example.com")

    elsewhere = browser.new_context(viewport=PHONE)
    try:
        other = elsewhere.new_page()
        other.set_default_timeout(10_000)
        other.goto(f"{service}/")
        # The demo page's confirm form, posted as a plain form: what a browser sends without
        # signup.js, from a page of the service (so Origin and Sec-Fetch-Site are its own).
        other.evaluate(
            """([username, code]) => {
                const form = document.querySelector('form[data-signup=confirm]');
                form.elements.namedItem('username').value = username;
                form.elements.namedItem('code').value = code;
                form.submit();
            }""",
            ["ada@example.com", code],
        )

        other.get_by_role("heading", name="You're signed up").wait_for()
        link = other.get_by_role("link", name="Sign in")
        assert link.get_attribute("href") == SIGN_IN_URL
        assert not set(TOKEN_COOKIES) & set(cookies(other))
        assert HANDLE_COOKIE not in cookies(other)
    finally:
        elsewhere.close()

    (account,) = cognito.users().values()
    assert account.confirmed  # the code counted where it was typed
    assert cognito.calls("InitiateAuth") == []
    # The first browser was not signed in behind its back either.
    assert not set(TOKEN_COOKIES) & set(cookies(page))


def test_passwordless_sign_up_signs_in_with_an_email_only(page, passwordless_service, cognito):
    page.goto(f"{passwordless_service}/")
    page.get_by_role("heading", name="Create your account").wait_for()
    assert page.locator("input[type=password]").count() == 0
    assert page.get_by_label("Password").count() == 0

    page.get_by_label("Email", exact=True).fill("ada@example.com")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert "Password" not in cognito.calls("SignUp")[0].params
    confirm(page, cognito.code_for("ada@example.com"))

    page.get_by_role("heading", name="You're all set").wait_for()
    assert page.locator("[data-signup-signed-in]").is_visible()
    assert_signed_in(page, cognito, "ada@example.com")


def test_without_javascript_a_field_error_is_shown_beside_its_field(no_js_page, service, cognito):
    page = no_js_page
    page.goto(f"{service}/")
    sign_up(page, email="ada@example.com", password="weakpassword1")

    page.get_by_role("heading", name="Create your account").wait_for()
    assert "Add an uppercase letter." in described_by(page, "Password")
    assert page.get_by_label("Email", exact=True).input_value() == "ada@example.com"


@pytest.fixture(scope="module")
def landing(service: str) -> Iterator[str]:
    """A landing page on another origin: a plain form to the service, enhanced by signup.js."""
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Landing</title></head>
<body><main>
<div data-signup-step="register">
<form method="post" action="{service}/register" data-signup="register">
  <label for="email">Email</label><input id="email" name="email" type="email" required>
  <label for="password">Password</label><input id="password" name="password" type="password">
  <input type="hidden" name="redirect_to" value="{LANDING}/thanks">
  <button>Create account</button>
</form></div>
<div data-signup-step="confirm" hidden><h1>Check your inbox</h1></div>
</main><script src="{service}/static/signup.js" defer></script></body></html>"""

    with serving(landing_site(html, service), LANDING_PORT):
        yield LANDING


def landing_site(html: str, service: str):
    """A landing page's site: ``html`` at /, a thank-you page, and /frame framing our demo page."""
    frame = f'<!doctype html><title>Frame</title><iframe src="{service}/" title="Sign up"></iframe>'
    pages = {"/thanks": "<h1>Thanks</h1>", "/frame": frame}

    def app(environ, start_response):
        body = pages.get(Request(environ).path, html)
        return Response(body, content_type="text/html")(environ, start_response)

    return app


@pytest.fixture(scope="module")
def stranger(service: str) -> Iterator[str]:
    """A site on an origin the service does not allow."""
    port = free_port()
    with serving(landing_site("<h1>Elsewhere</h1>", service), port):
        yield f"http://127.0.0.1:{port}"


def csp_violations(page) -> list[str]:
    """What Chromium reports as refused by a Content-Security-Policy, from now on."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return refused


def test_a_landing_page_on_another_origin_signs_up_with_fetch(page, landing, cognito):
    page.goto(f"{landing}/")
    sign_up(page)

    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert cognito.calls("SignUp")
    assert page.url == f"{landing}/"


def test_a_landing_page_form_works_without_javascript(no_js_page, landing, cognito):
    no_js_page.goto(f"{landing}/")
    sign_up(no_js_page)

    no_js_page.get_by_role("heading", name="Thanks").wait_for()
    assert no_js_page.url == f"{landing}/thanks"


def test_a_landing_page_on_the_allowlist_can_frame_the_form(page, landing, service):
    refused = csp_violations(page)
    page.goto(f"{landing}/frame")

    framed = page.frame_locator("iframe")
    framed.get_by_role("heading", name="Create your account").wait_for()
    assert refused == []


def test_a_page_on_another_origin_cannot_frame_the_form(page, stranger, service):
    refused = csp_violations(page)
    page.goto(f"{stranger}/frame")

    page.wait_for_function("() => document.querySelector('iframe')")
    page.wait_for_timeout(1_000)  # long enough for the frame's page to arrive, were it allowed
    (frame,) = [frame for frame in page.frames if frame != page.main_frame]
    assert "Create your account" not in frame.content()
    assert any("frame-ancestors" in message for message in refused)


# No Content-Security-Policy violation on any page of ours


def test_the_sign_up_with_javascript_runs_within_the_policy(page, service, cognito):
    refused = csp_violations(page)
    page.goto(f"{service}/")
    sign_up(page)
    page.get_by_role("heading", name="Check your inbox").wait_for()
    page.get_by_label("Confirmation code").fill(cognito.code_for("ada@example.com"))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="You're all set").wait_for()

    assert refused == []


def test_the_sign_up_without_javascript_runs_within_the_policy(no_js_page, service, cognito):
    refused = csp_violations(no_js_page)
    no_js_page.goto(f"{service}/")
    sign_up(no_js_page, password="weakpassword1")  # the form again, with an error
    no_js_page.get_by_role("heading", name="Create your account").wait_for()
    sign_up(no_js_page)
    no_js_page.get_by_role("heading", name="Check your inbox").wait_for()

    assert refused == []


def test_the_docs_page_runs_within_the_policy(page, service):
    refused = csp_violations(page)
    page.goto(f"{service}/docs")
    page.get_by_text("/register/confirm").first.wait_for()
    page.get_by_text("/register/confirm").first.click()  # an operation opened: more of the UI

    page.wait_for_timeout(500)
    assert refused == []


# Looks and docs


def test_the_demo_page_fits_a_phone(page, service, screenshot):
    page.goto(f"{service}/")

    layout = page.evaluate(
        """() => ({
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            // The code snippet wraps: nothing of it is hidden behind a scroll bar.
            hidden: [...document.querySelectorAll('pre')]
                .map(el => el.scrollWidth - el.clientWidth),
            inputs: [...document.querySelectorAll('input:not([type=hidden])')]
                .filter(el => el.offsetParent)
                .map(el => parseFloat(getComputedStyle(el).fontSize)),
            buttons: [...document.querySelectorAll('button')]
                .filter(el => el.offsetParent).map(el => el.getBoundingClientRect().height),
        })"""
    )
    page.screenshot(path=screenshot("demo-phone"), full_page=True)

    assert layout["overflow"] <= 0  # no sideways scrolling
    assert layout["hidden"]
    assert max(layout["hidden"]) <= 0
    assert min(layout["inputs"]) >= 16  # phones zoom into smaller text fields
    assert min(layout["buttons"]) >= 44  # a thumb-sized target


# Per language: the first heading, the email field's label, the submit button, and what signup.js
# says when the service cannot be reached (from the page's JSON block, not the script's English).
IN_LANGUAGE = {
    "de": (
        "Erstellen Sie Ihr Konto",
        "E-Mail",
        "Konto erstellen",
        "Der Server ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
    ),
    "fr": (
        "Créez votre compte",
        "E-mail",
        "Créer un compte",
        "Impossible de joindre le serveur. Vérifiez votre connexion et réessayez.",
    ),
    "es": (
        "Cree su cuenta",
        "Correo electrónico",
        "Crear cuenta",
        "No pudimos conectar con el servidor. Compruebe su conexión y vuelva a intentarlo.",
    ),
}


@pytest.mark.parametrize("language", sorted(IN_LANGUAGE))
def test_the_demo_page_in_each_language_fits_a_phone(page, service, screenshot, language):
    heading, email_label, button, unreachable = IN_LANGUAGE[language]
    page.goto(f"{service}/?lang={language}")

    page.get_by_role("heading", name=heading).wait_for()
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=screenshot(f"demo-{language}"), full_page=True)
    page.route(f"{service}/register", lambda route: route.abort())
    page.get_by_label(email_label, exact=True).fill("ada@example.com")
    page.locator("#register-password").fill(PASSWORD)
    page.get_by_role("button", name=button).click()

    assert overflow <= 0  # no sideways scrolling, however long the words
    assert page.locator("html").get_attribute("lang") == language
    page.get_by_text(unreachable).wait_for()


def test_the_docs_page_renders_from_local_assets(page, service):
    page.goto(f"{service}/docs")

    page.get_by_text("/register/confirm").first.wait_for()
    assert page.get_by_text("Signup service").first.is_visible()

"""The no-JavaScript path: plain form posts, redirect_to, and forms re-rendered with errors."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app, messages
from tests.conftest import signup_body

LANDING = "https://landing.example.com"
BROWSER = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def browser(settings, cognito) -> FlaskClient:
    """A client posting forms as a browser does, with a landing page's origin allowed."""
    return create_app({**settings, "SIGNUP_CORS_ORIGINS": LANDING}).test_client()


def post_form(client: FlaskClient, path: str, **fields: object) -> TestResponse:
    return client.post(path, data=fields, headers=BROWSER)


def input_tag(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert match, f"no input {name}"
    return match.group(0)


@pytest.mark.parametrize("target", ["/welcome", f"{LANDING}/check-your-inbox?step=2"])
def test_success_sends_the_browser_to_redirect_to(browser, target):
    response = post_form(browser, "/register", **signup_body(redirect_to=target))

    assert response.status_code == 303
    assert response.headers["Location"] == target


def test_confirming_by_form_also_follows_redirect_to(browser, cognito):
    post_form(browser, "/register", **signup_body())
    code = cognito.code_for("ada@example.com")

    response = post_form(
        browser,
        "/register/confirm",
        username="ada@example.com",
        code=code,
        redirect_to=f"{LANDING}/welcome",
    )

    assert (response.status_code, response.headers["Location"]) == (303, f"{LANDING}/welcome")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.net/",
        "//evil.example.net/",
        "/\\evil.example.net",
        f"{LANDING}.evil.example.net/",
        "https://landing.example.com@evil.example.net/",
        "http://landing.example.com/",  # the listed origin is https
        "javascript:alert(1)",
        "/\t/evil.example.net",
        " /welcome",
        "welcome",
        "/" + "x" * 2048,
    ],
)
def test_redirect_to_anywhere_else_is_refused_before_cognito(browser, cognito, target):
    response = post_form(browser, "/register", **signup_body(redirect_to=target))

    assert response.status_code == 422
    assert "Location" not in response.headers
    assert "redirect_to" in response.get_data(as_text=True)
    assert cognito.calls("SignUp") == []


def test_json_clients_cannot_send_redirect_to(client, cognito):
    response = client.post("/register", json=signup_body(redirect_to="/welcome"))

    assert response.status_code == 422
    assert "redirect_to" in response.json["fields"]


def test_without_redirect_to_the_answer_page_asks_for_the_code(browser):
    page = post_form(browser, "/register", **signup_body()).get_data(as_text=True)

    assert 'action="/register/confirm"' in page
    assert 'value="ada@example.com"' in input_tag(page, "username")


def test_the_code_form_works_without_javascript_to_the_end(browser, cognito):
    post_form(browser, "/register", **signup_body())

    response = post_form(
        browser,
        "/register/confirm",
        username="ada@example.com",
        code=cognito.code_for("ada@example.com"),
    )

    assert response.status_code == 200
    assert "signed in" in response.get_data(as_text=True)  # the form's sign-up set its handle


# Errors re-render the form


@pytest.fixture
def refused(browser, cognito) -> TestResponse:
    """A form whose email is wrong, with a landing page's extra field and redirect_to."""
    return post_form(
        browser,
        "/register",
        **signup_body(email="not-an-email", given_name="Ada"),
        **{"attributes[custom:plan]": "pro", "redirect_to": f"{LANDING}/inbox"},
    )


def test_an_error_re_renders_the_form_with_the_error_beside_its_field(refused):
    page = refused.get_data(as_text=True)
    email = input_tag(page, "email")
    error_id = re.search(r'aria-describedby="([^"]+)"', email).group(1)

    assert refused.status_code == 422
    assert 'aria-invalid="true"' in email
    message = re.escape(str(messages.EMAIL_MESSAGE))
    assert re.search(rf'id="{error_id}"[^>]*>{message}<', page)
    assert 'role="alert"' in page


def test_a_breached_password_is_shown_beside_the_password_and_not_kept(browser, pwned_range):
    response = post_form(browser, "/register", **signup_body(password="Password1!"))
    page = response.get_data(as_text=True)
    password = input_tag(page, "password")
    error_id = re.search(r'aria-describedby="([^"]+)"', password).group(1).split()[-1]

    assert response.status_code == 422
    assert re.search(rf'id="{error_id}"[^>]*>This password has appeared in a data breach', page)
    assert 'value=""' in password
    assert "Password1!" not in page


def test_the_re_rendered_form_keeps_what_was_typed_but_not_the_password(refused):
    page = refused.get_data(as_text=True)

    assert 'value="not-an-email"' in input_tag(page, "email")
    assert 'value="Ada"' in input_tag(page, "given_name")
    assert 'value="pro"' in input_tag(page, "attributes[custom:plan]")
    assert 'value=""' in input_tag(page, "password")
    assert "Correct-h0rse" not in page


def test_the_re_rendered_form_still_goes_to_the_landing_page_on_success(refused):
    page = refused.get_data(as_text=True)

    assert f'value="{LANDING}/inbox"' in input_tag(page, "redirect_to")


def test_a_refused_redirect_to_is_not_kept(browser):
    page = post_form(browser, "/register", **signup_body(redirect_to="https://evil.example.net"))

    assert "evil.example.net" not in page.get_data(as_text=True)


def test_a_wrong_code_re_renders_the_code_form_with_a_way_to_get_a_new_one(browser, cognito):
    post_form(browser, "/register", **signup_body())

    response = post_form(browser, "/register/confirm", username="ada@example.com", code="000000")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in input_tag(page, "code")
    assert 'action="/register/resend"' in page


def test_typed_values_are_escaped_in_the_re_rendered_form(browser):
    response = post_form(browser, "/register", **signup_body(email='"><script>alert(1)</script>'))

    assert "<script>alert(1)" not in response.get_data(as_text=True)


def test_blank_optional_inputs_of_a_plain_form_count_as_not_given(browser, cognito):
    response = post_form(browser, "/register", **signup_body(given_name="", username=""))

    assert response.status_code == 201
    assert cognito.calls("SignUp")[0].params["Username"] == "ada@example.com"


def test_other_posted_fields_ride_along_hidden_unless_they_need_fixing(browser, refused):
    not_allowed = post_form(browser, "/register", **signup_body(**{"attributes[custom:x]": "1"}))

    assert 'type="hidden"' in input_tag(refused.get_data(as_text=True), "attributes[custom:plan]")
    shown = input_tag(not_allowed.get_data(as_text=True), "attributes[custom:x]")
    assert 'type="text"' in shown
    assert 'aria-invalid="true"' in shown


def test_a_refused_resend_shows_the_username_to_correct(browser):
    response = post_form(browser, "/register/resend", username="nobody at example.com")

    username = input_tag(response.get_data(as_text=True), "username")
    assert response.status_code == 422
    assert 'type="text"' in username
    assert 'aria-invalid="true"' in username

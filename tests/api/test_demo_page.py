"""GET /: the demo sign-up page, and the /static/signup.js snippet it uses."""

from __future__ import annotations

import re

import pytest

from app import create_app


@pytest.fixture
def page(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_the_register_form_posts_to_register_without_javascript(page):
    form = re.search(r'<form[^>]*data-signup="register"[^>]*>', page).group(0)

    assert 'method="post"' in form
    assert 'action="/register"' in form


def test_every_visible_input_has_a_label(page):
    inputs = re.findall(r'<input(?![^>]*type="hidden")[^>]*id="([^"]+)"', page)
    labels = set(re.findall(r'<label for="([^"]+)"', page))

    assert inputs
    assert set(inputs) <= labels


def test_the_page_fits_a_phone(page):
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page


def test_the_page_loads_cognitos_advanced_security_script_for_the_pools_region(page, cognito):
    script = (
        f"https://amazon-cognito-assets.{cognito.region}.amazoncognito.com/"
        "amazon-cognito-advanced-security-data.min.js"
    )

    assert f'<script src="{script}" async>' in page
    assert f'data-user-pool-id="{cognito.user_pool_id}"' in page
    assert f'data-client-id="{cognito.client_id}"' in page


def test_the_page_uses_the_snippet(page, client):
    snippet = client.get("/static/signup.js")

    assert '<script src="/static/signup.js" defer>' in page
    assert snippet.status_code == 200
    assert "javascript" in snippet.content_type
    snippet.close()


def test_the_page_never_shows_the_client_secret(page, cognito):
    assert cognito.client_secret not in page


def test_without_a_pool_the_page_still_renders_without_the_script(monkeypatch):
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)

    response = create_app().test_client().get("/")

    assert response.status_code == 200
    assert "amazoncognito.com" not in response.get_data(as_text=True)

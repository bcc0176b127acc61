"""The one error handler: a page for a browser, the JSON shape for everything else."""

from __future__ import annotations

import pytest

from app.errors import HTTP_MESSAGES

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API_CLIENTS = [{}, {"Accept": "*/*"}, {"Accept": "application/json"}]


def test_a_browser_opening_an_unknown_address_gets_a_page(client):
    response = client.get("/nowhere", headers=BROWSER)

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert HTTP_MESSAGES[404] in response.get_data(as_text=True)


def test_a_browser_opening_a_post_only_address_gets_a_page_and_the_allow_header(client):
    response = client.get("/register", headers=BROWSER)

    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert HTTP_MESSAGES[405] in response.get_data(as_text=True)
    assert "POST" in response.headers["Allow"]


def test_a_browsers_form_too_large_gets_a_page(make_app):
    client = make_app(SIGNUP_MAX_BODY_BYTES="1024").test_client()

    response = client.post("/register", data={"email": "a" * 2000}, headers=BROWSER)

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert HTTP_MESSAGES[413] in response.get_data(as_text=True)


@pytest.mark.parametrize("headers", API_CLIENTS)
@pytest.mark.parametrize(
    ("method", "path", "status"), [("get", "/nowhere", 404), ("get", "/register", 405)]
)
def test_api_clients_get_the_json_shape(client, headers, method, path, status):
    response = getattr(client, method)(path, headers=headers)

    assert response.status_code == status
    assert response.json == {
        "status": status,
        "code": "not_found" if status == 404 else "method_not_allowed",
        "message": HTTP_MESSAGES[status],
        "fields": {},
    }


@pytest.mark.parametrize("headers", API_CLIENTS)
def test_api_clients_get_the_json_shape_for_a_body_too_large(make_app, headers):
    client = make_app(SIGNUP_MAX_BODY_BYTES="1024").test_client()

    response = client.post("/register", json={"email": "a" * 2000}, headers=headers)

    assert response.status_code == 413
    assert response.json["code"] == "request_entity_too_large"
    assert response.json["message"] == HTTP_MESSAGES[413]


def test_a_405_to_an_api_client_keeps_the_allow_header(client):
    assert "POST" in client.get("/register").headers["Allow"]

"""The service in the person's language: complete catalogs, the choice of language, its headers.

The compiled catalogs (.mo) are built by `make` from app/translations/*/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from app.languages import LANGUAGES
from tests.conftest import signup_body

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
PYBABEL = Path(sys.executable).parent / "pybabel"
# As the Makefile's `messages` target extracts them.
EXTRACT_OPTIONS = ("--mapping-file", "babel.cfg", "--keywords", "_l", "--keywords", "_n")
TRANSLATED = [language for language in LANGUAGES if language != "en"]
BROWSER = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}

# One error, as each language says it: the stable code never changes, the words do.
INVALID_EMAIL = {
    "en": ("Some fields are not valid.", "Enter a valid email address, like ada@example.com."),
    "de": (
        "Einige Felder sind ungültig.",
        "Geben Sie eine gültige E-Mail-Adresse ein, etwa ada@example.com.",
    ),
    "fr": (
        "Certains champs ne sont pas valides.",
        "Saisissez une adresse e-mail valide, par exemple ada@example.com.",
    ),
    "es": (
        "Algunos campos no son válidos.",
        "Introduzca una dirección de correo electrónico válida, como ada@example.com.",
    ),
}
# The one answer to a wrong code that tells nothing of the account (SIGNUP_HIDE_EXISTING_USERS).
WRONG_CODE = {
    "en": "This code is not valid: it may be mistyped or expired. Ask for a new code, or sign in "
    "if your account is already confirmed.",
    "de": "Dieser Code ist ungültig: Er wurde möglicherweise falsch eingegeben oder ist "
    "abgelaufen. Fordern Sie einen neuen Code an oder melden Sie sich an, wenn Ihr Konto bereits "
    "bestätigt ist.",
    "fr": "Ce code n'est pas valide : il a peut-être été mal saisi ou a expiré. Demandez un "
    "nouveau code, ou connectez-vous si votre compte est déjà confirmé.",
    "es": "Este código no es válido: puede que esté mal escrito o haya caducado. Solicite un "
    "nuevo código o inicie sesión si su cuenta ya está confirmada.",
}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every msgid of the code and pages, extracted afresh as `make messages` does."""
    pot = tmp_path_factory.mktemp("catalog") / "messages.pot"
    subprocess.run(  # noqa: S603 - this environment's pybabel, our own arguments
        [PYBABEL, "--quiet", "extract", *EXTRACT_OPTIONS, "--output-file", str(pot), "."],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as file:
        return {msgid(message) for message in read_po(file) if message.id}


def msgid(message: Message) -> str:
    """A message's id; a plural's is its singular."""
    return message.id if isinstance(message.id, str) else message.id[0]


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_has_a_translation(extracted, language):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        catalog = read_po(file)
    translated = {
        msgid(message)
        for message in catalog
        if message.id
        and not message.fuzzy
        and all(message.string if isinstance(message.string, tuple) else [message.string])
    }

    assert sorted(extracted - translated) == []  # run `make messages`, then translate these


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_invalid_email_is_refused_in_each_language_with_the_same_code(client, language):
    response = client.post("/register", json=signup_body(email="not-an-email", lang=language))

    message, field_message = INVALID_EMAIL[language]
    assert response.status_code == 422
    assert response.json["code"] == "invalid_fields"
    assert response.json["message"] == message
    assert response.json["fields"] == {"email": [field_message]}
    assert response.headers["Content-Language"] == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_wrong_code_is_refused_in_each_language_with_the_same_code(client, language):
    assert client.post("/register", json=signup_body()).status_code == 201

    response = client.post(
        f"/register/confirm?lang={language}",
        json={"username": "ada@example.com", "code": "000000x"},
    )

    assert response.status_code == 422
    assert response.json["code"] == "code_mismatch"
    assert response.json["message"] == WRONG_CODE[language]
    assert response.json["fields"] == {"code": [WRONG_CODE[language]]}


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "de"),
        ("fr-CA", "fr"),
        ("pt-BR,es;q=0.8", "es"),
        ("ja, zh;q=0.8", "en"),  # nothing we ship: English
        ("", "en"),
    ],
)
def test_accept_language_picks_the_best_shipped_language(client, accept_language, expected):
    response = client.post(
        "/register",
        json=signup_body(email="not-an-email"),
        headers={"Accept-Language": accept_language},
    )

    assert response.headers["Content-Language"] == expected
    assert response.json["message"] == INVALID_EMAIL[expected][0]
    assert "Accept-Language" in response.headers["Vary"]


def test_the_lang_parameter_beats_accept_language(client):
    response = client.get("/?lang=es", headers={"Accept-Language": "de"})

    assert response.headers["Content-Language"] == "es"
    assert '<html lang="es">' in response.get_data(as_text=True)
    assert "Accept-Language" not in response.headers.get("Vary", "")  # the URL says it all


def test_the_lang_field_beats_accept_language(client):
    response = client.post(
        "/register",
        json=signup_body(email="not-an-email", lang="fr"),
        headers={"Accept-Language": "de"},
    )

    assert response.headers["Content-Language"] == "fr"
    assert response.json["message"] == INVALID_EMAIL["fr"][0]


def test_an_unknown_lang_parameter_falls_back_to_english(client):
    response = client.get("/?lang=xx")

    assert response.headers["Content-Language"] == "en"
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_a_lang_field_outside_the_shipped_languages_is_a_field_error(client):
    response = client.post("/register", json=signup_body(lang="pt"))

    assert response.status_code == 422
    assert response.json["fields"] == {"lang": ["Use one of: en, de, fr, es."]}


@pytest.mark.parametrize("path", ["/", "/healthz", "/openapi.json"])
def test_every_answer_says_its_language(client, path):
    response = client.get(path, headers={"Accept-Language": "fr"})

    assert response.headers["Content-Language"] == "fr"


def test_files_say_a_language_but_do_not_vary_by_it(client):
    response = client.get("/static/signup.js", headers={"Accept-Language": "es"})

    assert response.headers["Content-Language"] == "es"
    assert "Accept-Language" not in response.headers.get("Vary", "")
    response.close()


def test_a_form_re_rendered_with_errors_is_in_the_chosen_language(client):
    response = client.post(
        "/register", data=signup_body(email="not-an-email", lang="de"), headers=BROWSER
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<html lang="de">' in page
    assert "Bitte überprüfen Sie das Formular" in page
    assert "Geben Sie eine gültige E-Mail-Adresse ein, etwa ada@example.com." in page
    assert ">Konto erstellen</button>" in page
    assert '<input type="hidden" name="lang" value="de">' in page  # the next post keeps it


def test_a_form_sign_up_answers_with_a_page_in_the_chosen_language(client):
    response = client.post("/register", data=signup_body(lang="fr"), headers=BROWSER)

    page = response.get_data(as_text=True)
    assert response.status_code == 201
    assert "<h1>Consultez votre boîte de réception</h1>" in page
    assert "par e-mail à <strong>a***@e***</strong>" in page
    assert ">Confirmer</button>" in page


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_demo_page_gives_signup_js_its_messages_in_the_page_language(client, language):
    page = client.get(f"/?lang={language}").get_data(as_text=True)

    assert '<script type="application/json" id="signup-messages">' in page
    assert "Something went wrong" not in page


def test_a_rate_limit_says_how_long_to_wait_in_the_language(make_app):
    client = make_app(SIGNUP_RATE_LIMIT_PER_IP="1/minute").test_client()
    client.post("/register", json=signup_body())

    response = client.post("/register?lang=de", json=signup_body(email="grace@example.com"))

    assert response.status_code == 429
    assert response.json["code"] == "rate_limited"
    assert response.json["message"].startswith("Zu viele Anfragen aus Ihrem Netzwerk.")
    assert "Sekunden erneut." in response.json["message"]

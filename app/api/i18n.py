"""The person's language: which one a request is answered in, and the headers that say so.

An explicit ``lang`` (the query string, or a field of a form or JSON body that a landing page
passes on) wins, then the best match of ``Accept-Language``, then English. The catalogs are in
app/translations; `make messages` extracts and updates them, the Makefile's setup compiles them.
"""

from __future__ import annotations

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, get_locale

from app.languages import DEFAULT_LANGUAGE, LANG_FIELD, LANGUAGES

# The query parameter, for the OpenAPI document of every endpoint a person reads the answer of.
LANG_PARAMETER = {
    "in": "query",
    "name": LANG_FIELD,
    "required": False,
    # Any string: a landing page may pass its own language, and one we do not ship is ignored.
    "schema": {"type": "string", "examples": list(LANGUAGES)},
    "description": f"The answer's language: one of {', '.join(LANGUAGES)}. Any other value is "
    "ignored; without one, a body's lang field, Accept-Language, then English decide.",
}


def select_language() -> str:
    """The language of this request's answer: ``lang``, else Accept-Language, else English."""
    if not has_request_context():  # the CLI, in an app context only: English
        return DEFAULT_LANGUAGE
    explicit = request.args.get(LANG_FIELD)
    g.language_from_query = explicit in LANGUAGES
    if explicit not in LANGUAGES:
        # Posted with the form or in the JSON body; the body's schema refuses any other value.
        explicit = g.get("parsed_body", {}).get(LANG_FIELD)
    if explicit in LANGUAGES:
        return explicit
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def say_language(response: Response) -> Response:
    """Content-Language on every answer; Vary unless the query string fixed the language, or
    the answer is a file (signup.js, the stylesheet), the same in every language."""
    response.headers.setdefault("Content-Language", str(get_locale() or DEFAULT_LANGUAGE))
    if not g.get("language_from_query") and request.endpoint != "static":
        response.vary.add("Accept-Language")
    return response


def init_app(app: Flask) -> None:
    Babel(app, default_locale=DEFAULT_LANGUAGE, locale_selector=select_language)
    app.after_request(say_language)
    # The pages' <html lang> and the forms' hidden lang field.
    app.context_processor(lambda: {"language": str(get_locale() or DEFAULT_LANGUAGE)})

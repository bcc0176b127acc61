"""Whether to answer a request with a page or with JSON.

A browser gets a page: for a plain HTML form it posted, and for an address it opened (a 404, a
405). Everything else (fetch, mobile apps, curl, and forms that send ``Accept: application/json``)
gets JSON. A browser is told apart by its ``Accept``, which prefers ``text/html`` to JSON.
"""

from __future__ import annotations

from flask import Request, Response, make_response, render_template, request

FORM_TYPE = "application/x-www-form-urlencoded"


def is_form(incoming: Request) -> bool:
    return incoming.mimetype == FORM_TYPE


def wants_page() -> bool:
    if not (is_form(request) or request.method in ("GET", "HEAD")):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def page(template: str, status: int, **context: object) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response

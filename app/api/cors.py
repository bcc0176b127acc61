"""CORS for the JSON sign-up endpoints, granted only to the origins in SIGNUP_CORS_ORIGINS.

Landing pages on those origins may call /register, /register/confirm and /register/resend with
fetch, credentials included: the sign-up's handle and, once confirmed, the tokens travel as
HttpOnly cookies (app/api/sign_in.py), which a landing page on the same site as this service
receives and a page script never reads. Other paths and other origins get no CORS headers at
all, and with no origins configured (the default) nothing is granted.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from app.telemetry.request_log import REQUEST_ID_HEADER

JSON_ENDPOINTS = r"^/register(/confirm|/resend)?$"
PREFLIGHT_CACHE_SECONDS = 600


def init_app(app: Flask, origins: frozenset[str]) -> None:
    if not origins:
        return
    CORS(
        app,
        resources={JSON_ENDPOINTS: {"origins": sorted(origins)}},
        methods=["POST"],
        allow_headers=["Content-Type", REQUEST_ID_HEADER],
        # A script on another origin can read only the headers exposed here: it needs
        # Retry-After to wait out a 429 or 503.
        expose_headers=["Retry-After", REQUEST_ID_HEADER],
        # Only the listed origins, never "*": browsers refuse credentials to a wildcard anyway.
        supports_credentials=True,
        max_age=PREFLIGHT_CACHE_SECONDS,
        vary_header=True,
    )

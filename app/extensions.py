"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

from app.openapi import SignupApi

api = SignupApi()

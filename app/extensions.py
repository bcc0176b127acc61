"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

from flask_smorest import Api

api = Api()

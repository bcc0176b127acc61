"""The languages the service answers in, and the field that asks for one.

English is the source; German, French and Spanish are complete catalogs in app/translations
(tests/api/test_i18n.py fails on a string any of them lacks).
"""

DEFAULT_LANGUAGE = "en"
LANGUAGES = (DEFAULT_LANGUAGE, "de", "fr", "es")
# A query parameter, or a field of a form or JSON body (a landing page passes its own language).
LANG_FIELD = "lang"

"""Our words for every validation message marshmallow would otherwise give a client.

Each is translated (Flask-Babel) when an answer is made. marshmallow's fields and validators
carry default messages ("Missing data for required field.",
"Longer than maximum length 256."). Each one a request can provoke is replaced here, in one
table, and :func:`in_our_words` puts them on a schema's fields as it binds them. Messages we
write ourselves (a pattern's rule, a cross-field check) stay beside their rule in the schemas.
werkzeug's HTTP errors get their words in ``app.errors``.
"""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

# For every field, whatever its type.
FIELD_MESSAGES = {
    "required": _l("This field is required."),
    "null": _l("Leave this field out instead of sending null."),
    "validator_failed": _l("This value is not accepted."),
    "invalid_utf8": _l("Must be valid UTF-8 text."),
}

# What "invalid" means for each type of field a request schema uses; the first match wins.
EMAIL_MESSAGE = _l("Enter a valid email address, like ada@example.com.")
INVALID_MESSAGES: tuple[tuple[type[fields.Field], LazyString], ...] = (
    (fields.Email, EMAIL_MESSAGE),
    (fields.Url, _l("Enter a full URL, starting with https:// or http://.")),
    (fields.String, _l("Must be text.")),
    (fields.Mapping, _l("Must be an object of names and values.")),
)
INVALID_MESSAGE = _l("This value is not of the right type.")

# A request schema's own messages: a field nobody declared, a body that is not an object.
SCHEMA_MESSAGES = {
    "unknown": _l("This field is not accepted. Check its name."),
    "type": _l("The request body must be an object."),
}

# validate.Length, for text and for maps (whose length is their number of entries).
TEXT_LENGTH_MESSAGES = {
    "message_min": _l("Use at least {min} characters."),
    "message_max": _l("Use at most {max} characters."),
    "message_all": _l("Use {min} to {max} characters."),
    "message_equal": _l("Use exactly {equal} characters."),
}
MAP_LENGTH_MESSAGES = {
    "message_min": _l("Send at least {min} entries."),
    "message_max": _l("Send at most {max} entries."),
    "message_all": _l("Send {min} to {max} entries."),
    "message_equal": _l("Send exactly {equal} entries."),
}


def invalid_message(field: fields.Field) -> LazyString:
    for field_type, message in INVALID_MESSAGES:
        if isinstance(field, field_type):
            return message
    return INVALID_MESSAGE


def in_our_words(field: fields.Field) -> None:
    """Give ``field`` (a schema's own copy), its validators and its inner fields our messages.

    Validators a rule of ours built with its own ``error`` keep it.
    """
    invalid = invalid_message(field)
    field.error_messages = {**field.error_messages, **FIELD_MESSAGES, "invalid": invalid}
    lengths = MAP_LENGTH_MESSAGES if isinstance(field, fields.Mapping) else TEXT_LENGTH_MESSAGES
    for validator in field.validators:
        if isinstance(validator, validate.Length) and validator.error is None:
            for name, message in lengths.items():
                setattr(validator, name, message)
        elif isinstance(validator, validate.Email | validate.URL):
            # fields.Email and fields.Url build these from the library's "invalid" message.
            validator.error = invalid
    for inner in (getattr(field, "key_field", None), getattr(field, "value_field", None)):
        if inner is not None:
            in_our_words(inner)


def length_error(value_length: int, *, max_length: int) -> str | None:
    """The words for text of ``value_length`` characters where 1 to ``max_length`` are allowed."""
    if 1 <= value_length <= max_length:
        return None
    return str(TEXT_LENGTH_MESSAGES["message_all"]).format(min=1, max=max_length)

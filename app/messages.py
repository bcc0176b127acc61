"""Our words for every validation message marshmallow would otherwise give a client.

marshmallow's fields and validators carry default messages ("Missing data for required field.",
"Longer than maximum length 256."). Each one a request can provoke is replaced here, in one
table, and :func:`in_our_words` puts them on a schema's fields as it binds them. Messages we
write ourselves (a pattern's rule, a cross-field check) stay beside their rule in the schemas.
werkzeug's HTTP errors get their words in ``app.errors``.
"""

from __future__ import annotations

from marshmallow import fields, validate

# For every field, whatever its type.
FIELD_MESSAGES = {
    "required": "This field is required.",
    "null": "Leave this field out instead of sending null.",
    "validator_failed": "This value is not accepted.",
    "invalid_utf8": "Must be valid UTF-8 text.",
}

# What "invalid" means for each type of field a request schema uses; the first match wins.
EMAIL_MESSAGE = "Enter a valid email address, like ada@example.com."
INVALID_MESSAGES: tuple[tuple[type[fields.Field], str], ...] = (
    (fields.Email, EMAIL_MESSAGE),
    (fields.Url, "Enter a full URL, starting with https:// or http://."),
    (fields.String, "Must be text."),
    (fields.Mapping, "Must be an object of names and values."),
)
INVALID_MESSAGE = "This value is not of the right type."

# A request schema's own messages: a field nobody declared, a body that is not an object.
SCHEMA_MESSAGES = {
    "unknown": "This field is not accepted. Check its name.",
    "type": "The request body must be an object.",
}

# validate.Length, for text and for maps (whose length is their number of entries).
TEXT_LENGTH_MESSAGES = {
    "message_min": "Use at least {min} characters.",
    "message_max": "Use at most {max} characters.",
    "message_all": "Use {min} to {max} characters.",
    "message_equal": "Use exactly {equal} characters.",
}
MAP_LENGTH_MESSAGES = {
    "message_min": "Send at least {min} entries.",
    "message_max": "Send at most {max} entries.",
    "message_all": "Send {min} to {max} entries.",
    "message_equal": "Send exactly {equal} entries.",
}


def invalid_message(field: fields.Field) -> str:
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
    return TEXT_LENGTH_MESSAGES["message_all"].format(min=1, max=max_length)

"""marshmallow's fields and validators that the request schemas use, their messages translatable.

The English texts are marshmallow's own; each is looked up in the request's language when an error
is answered. Declared as subclasses, the way marshmallow customises a field's default messages.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate

FIELD_MESSAGES = {
    "required": _l("Missing data for required field."),
    "null": _l("Field may not be null."),
    "validator_failed": _l("Invalid value."),
}
# A schema's own: a field it does not know, or a body that is not an object.
SCHEMA_MESSAGES = {"unknown": _l("Unknown field."), "type": _l("Invalid input type.")}
_STRING_MESSAGES = {**FIELD_MESSAGES, "invalid_utf8": _l("Not a valid utf-8 string.")}


class Translated(fields.Field):
    """marshmallow formats and lists a message only when it is a ``str``: a lazy one is read in
    the request's language first."""

    def make_error(self, key: str, **kwargs: Any) -> ValidationError:
        message = self.error_messages.get(key)
        if isinstance(message, LazyString):
            return ValidationError(str(message).format(**kwargs))
        return super().make_error(key, **kwargs)


class Raw(Translated, fields.Raw):
    default_error_messages: ClassVar[dict[str, Any]] = FIELD_MESSAGES


class String(Translated, fields.String):
    default_error_messages: ClassVar[dict[str, Any]] = {
        **_STRING_MESSAGES,
        "invalid": _l("Not a valid string."),
    }


class Email(Translated, fields.Email):
    # Without "invalid": marshmallow's stands until __init__ replaces it.
    default_error_messages: ClassVar[dict[str, Any]] = _STRING_MESSAGES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _replace_invalid(self, _l("Not a valid email address."))


class Url(Translated, fields.Url):
    default_error_messages: ClassVar[dict[str, Any]] = _STRING_MESSAGES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _replace_invalid(self, _l("Not a valid URL."))


def _replace_invalid(field: fields.Email | fields.Url, message: LazyString) -> None:
    """marshmallow insists on a ``str`` when it builds these fields' first validator (the address
    check); a lazy message takes its place once it is built."""
    field.error_messages["invalid"] = field.validators[0].error = message  # type: ignore[attr-defined]


class Dict(Translated, fields.Dict):
    default_error_messages: ClassVar[dict[str, Any]] = {
        **FIELD_MESSAGES,
        "invalid": _l("Not a valid mapping type."),
    }


class Length(validate.Length):
    message_min = _l("Shorter than minimum length {min}.")
    message_max = _l("Longer than maximum length {max}.")
    message_all = _l("Length must be between {min} and {max}.")
    message_equal = _l("Length must be {equal}.")


class OneOf(validate.OneOf):
    default_message = _l("Must be one of: {choices}.")

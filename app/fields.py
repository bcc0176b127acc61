"""marshmallow's fields and validators that the request schemas use, their messages translatable.

The texts are ours (app/messages.py); each is looked up in the request's language when an error
is answered. Declared as subclasses, the way marshmallow customises a field's default messages.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate

from app import messages

FIELD_MESSAGES = messages.FIELD_MESSAGES
SCHEMA_MESSAGES = messages.SCHEMA_MESSAGES


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
        **FIELD_MESSAGES,
        "invalid": messages.invalid_message(fields.String()),
    }


class Email(Translated, fields.Email):
    # Without "invalid": marshmallow's stands until __init__ replaces it.
    default_error_messages: ClassVar[dict[str, Any]] = FIELD_MESSAGES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _replace_invalid(self, messages.EMAIL_MESSAGE)


class Url(Translated, fields.Url):
    default_error_messages: ClassVar[dict[str, Any]] = FIELD_MESSAGES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _replace_invalid(self, messages.invalid_message(fields.Url()))


def _replace_invalid(field: fields.Email | fields.Url, message: LazyString) -> None:
    """marshmallow insists on a ``str`` when it builds these fields' first validator (the address
    check); a lazy message takes its place once it is built."""
    field.error_messages["invalid"] = field.validators[0].error = message  # type: ignore[attr-defined]


class Dict(Translated, fields.Dict):
    default_error_messages: ClassVar[dict[str, Any]] = {
        **FIELD_MESSAGES,
        "invalid": messages.invalid_message(fields.Dict()),
    }


class Length(validate.Length):
    message_min = messages.TEXT_LENGTH_MESSAGES["message_min"]
    message_max = messages.TEXT_LENGTH_MESSAGES["message_max"]
    message_all = messages.TEXT_LENGTH_MESSAGES["message_all"]
    message_equal = messages.TEXT_LENGTH_MESSAGES["message_equal"]


class OneOf(validate.OneOf):
    default_message = _l("Use one of: {choices}.")

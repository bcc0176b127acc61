"""A regular-expression validator that matches the whole value.

``validate.Regexp`` uses ``re.match``, and in Python ``$`` also matches just before a final
newline, so ``^\\S+$`` lets "123456\\n" through. The OpenAPI document still shows the pattern as
written (JSON Schema's ``$`` has no such exception).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validate


class Pattern(validate.Regexp):
    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value

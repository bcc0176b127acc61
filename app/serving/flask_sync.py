"""Flask, asking once per function whether it is a coroutine function.

Flask asks on every request, for every view and request hook it calls (``ensure_sync``, fourteen
times per sign-up, through ``inspect``); the answer for a function never changes. None of this
app's functions is async, but the answer is Flask's own either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

_flask_ensure_sync = Flask.ensure_sync


def _ensure_sync(self: Flask, func: Callable[..., Any]) -> Callable[..., Any]:
    made: dict[Callable[..., Any], Callable[..., Any]] = self.__dict__.setdefault("_made_sync", {})
    try:
        return made[func]
    except KeyError:
        made[func] = answer = _flask_ensure_sync(self, func)
        return answer


def install() -> None:
    Flask.ensure_sync = _ensure_sync  # type: ignore[method-assign]

"""The one switch over the serving patches, and the patches that need no server to be seen."""

import pytest
from flask import Flask

from app.serving import flask_sync, patches


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", patches.NAMES),
        ("all", patches.NAMES),
        ("none", frozenset()),
        (" one_send , lean_botocore ", frozenset({"one_send", "lean_botocore"})),
    ],
)
def test_the_switch_names_the_patches_to_install(value, expected):
    assert patches.chosen({patches.SWITCH: value}) == expected


def test_the_switch_refuses_a_patch_that_does_not_exist():
    with pytest.raises(patches.PatchSwitchError, match="unknown: one_sned"):
        patches.chosen({patches.SWITCH: "one_send,one_sned"})


def test_every_named_patch_has_an_installer():
    for module in patches.PATCHES.values():
        assert callable(__import__(module, fromlist=["install"]).install)


def test_ensure_sync_asked_once_still_refuses_coroutines_as_flask_does(monkeypatch):
    monkeypatch.setattr(Flask, "ensure_sync", Flask.ensure_sync)  # restored afterwards
    flask_sync.install()
    app = Flask(__name__)

    def plain():
        return "plain"

    async def coroutine():
        return "coroutine"

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(plain) is plain
    for _ in range(2):
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(coroutine)

"""GROUPROOM_EVENT_LOOP: auto (the default) picks uvloop when it is installed."""

from __future__ import annotations

import importlib.util

import pytest

from grouproom.settings import SettingsError, settings_from_env


def test_auto_is_the_default_and_picks_uvloop_when_installed() -> None:
    installed = importlib.util.find_spec("uvloop") is not None
    assert installed  # a dependency on Linux: the test machine has it
    assert settings_from_env({}).event_loop == "uvloop"
    assert settings_from_env({"GROUPROOM_EVENT_LOOP": "auto"}).event_loop == "uvloop"


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "uvloop" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert settings_from_env({}).event_loop == "asyncio"


def test_an_explicit_choice_is_kept_and_anything_else_refused() -> None:
    assert settings_from_env({"GROUPROOM_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
    assert settings_from_env({"GROUPROOM_EVENT_LOOP": "uvloop"}).event_loop == "uvloop"
    with pytest.raises(SettingsError, match="event loop must be auto, uvloop or asyncio"):
        settings_from_env({"GROUPROOM_EVENT_LOOP": "trio"})

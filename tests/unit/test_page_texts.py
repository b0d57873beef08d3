"""The therapists' pages' texts: both languages complete, usable from templates."""

from __future__ import annotations

import re
from pathlib import Path

from grouproom.http.texts import TEXTS, choose_language

TEMPLATES = Path(__file__).resolve().parents[2] / "grouproom" / "http" / "templates"


def test_both_languages_have_the_same_texts() -> None:
    assert set(TEXTS["nl"]) == set(TEXTS["en"])


def test_no_text_key_is_hidden_by_a_dict_method() -> None:
    # In a template `t.copy` would find dict.copy, not the text.
    assert not set(TEXTS["en"]) & set(dir(dict))


def test_every_text_a_template_uses_exists() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z_]+)", template.read_text()))
    assert used and used <= set(TEXTS["en"])


def test_the_page_language() -> None:
    assert choose_language("nl", "en-GB") == "nl"
    assert choose_language(None, "de-DE,nl;q=0.8,en;q=0.5") == "nl"
    assert choose_language("fr", "en-US") == "en"
    assert choose_language(None, None) == "en"

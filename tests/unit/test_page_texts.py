"""The pages' texts (therapists' pages and the web client): both languages complete, usable."""

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


WEB_JS = Path(__file__).resolve().parents[2] / "web" / "js"


def web_client_texts() -> dict[str, set[str]]:
    """The keys of each language in web/js/i18n.js."""
    source = (WEB_JS / "i18n.js").read_text()
    dutch, english = source.index("  nl: {"), source.index("  en: {")
    end = source.index("\n};", english)
    keys = re.compile(r'^\s+"([\w.]+)":', re.MULTILINE)
    return {
        "nl": set(keys.findall(source, dutch, english)),
        "en": set(keys.findall(source, english, end)),
    }


def test_the_web_client_has_every_text_in_both_languages() -> None:
    texts = web_client_texts()
    assert len(texts["en"]) > 100
    assert texts["nl"] == texts["en"]


def test_every_text_the_web_client_names_exists() -> None:
    used: set[str] = set()
    for script in WEB_JS.glob("*.js"):
        used |= set(re.findall(r'\bt\("([\w.]+)"', script.read_text()))
    for page in WEB_JS.parent.glob("*.html"):
        used |= set(re.findall(r'data-i18n(?:-aria-label)?="([\w.]+)"', page.read_text()))
    assert len(used) > 50
    assert used <= web_client_texts()["en"], used - web_client_texts()["en"]

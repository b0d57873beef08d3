"""Display names: trimmed, 1 to 40 characters, nothing that hides or reorders text."""

from __future__ import annotations

import unicodedata

DISPLAY_NAME_MAX_LENGTH = 40

# Categories refused anywhere in a name: control characters (Cc), lone
# surrogates (Cs), line and paragraph separators (Zl, Zp).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Bidirectional embeddings, overrides and isolates: they can make one name look
# like another.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class DisplayNameError(ValueError):
    """A display name that cannot be used; the message says why."""


def normalize_display_name(raw: str) -> str:
    """The name as it is shown: NFC-normalized and trimmed. Raises DisplayNameError."""
    for character in raw:
        if unicodedata.category(character) in _REFUSED_CATEGORIES and not character.isspace():
            raise DisplayNameError("contains a control character")
        if character in _BIDI_CONTROLS:
            raise DisplayNameError("contains a text direction control character")
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise DisplayNameError("is empty")
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        raise DisplayNameError(f"is longer than {DISPLAY_NAME_MAX_LENGTH} characters")
    if any(unicodedata.category(character) in _REFUSED_CATEGORIES for character in name):
        raise DisplayNameError("contains a control character")
    return name

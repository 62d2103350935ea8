"""Rule R1: turn what a caller typed (or a SIP/tel URI) into digits, or say why not.

Accepted: national ``0…``, international ``00…``/``+…``, separators, ``tel:`` URIs, the
user part of ``sip:``/``sips:`` URIs (percent-encoded or not), and a leading ``#31#``/``*31#``
(caller ID withheld), which sets ``clir``. Letters are never read as digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from callctl.core.tariff import Numbering


class DialError(ValueError):
    """The string cannot be dialled; the message is for a person.

    ``clir`` says whether a ``#31#``/``*31#`` prefix was read before the error (R1: the
    attempt keeps its flag even when it is refused).
    """

    def __init__(self, message: str, *, clir: bool = False) -> None:
        super().__init__(message)
        self.clir = clir


@dataclass(frozen=True, slots=True)
class DialString:
    """Digits as dialled. ``international`` digits start with the country code."""

    digits: str
    international: bool
    clir: bool


def _uri_user(text: str) -> str:
    lower = text[:5].lower()
    if lower.startswith("tel:"):
        return unquote(text[4:].split(";", 1)[0])
    for scheme in ("sips:", "sip:"):
        if lower.startswith(scheme):
            rest = text[len(scheme) :]
            if "@" not in rest:
                raise DialError("a SIP URI without a user part names no number")
            return unquote(rest.rsplit("@", 1)[0].split(";", 1)[0])
    return text


def _strip_clir(text: str, numbering: Numbering) -> tuple[str, bool]:
    clir = False
    stripped = True
    while stripped:
        stripped = False
        for prefix in numbering.clir_prefixes:
            if text.startswith(prefix):
                text = text[len(prefix) :].lstrip()
                clir = stripped = True
    return text, clir


def parse_dial_string(raw: str, numbering: Numbering) -> DialString:
    """R1 normalisation. Raises :class:`DialError` with a readable reason."""
    if len(raw) > numbering.max_input_length:
        raise DialError(f"too long to be a phone number ({len(raw)} characters)")
    text = _uri_user(raw.strip()).strip()
    text, clir = _strip_clir(text, numbering)
    # Separators go first, so "(+32) 2 …" reads like "+32 2 …" (R1).
    compact = "".join(ch for ch in text if ch not in numbering.separators)
    plus = compact.startswith("+")
    body = compact[1:] if plus else compact
    if not body:
        raise DialError(
            "nothing to dial" if not plus else "a '+' with no number after it", clir=clir
        )
    if not body.isascii() or not body.isdigit():
        bad = next(ch for ch in body if not (ch.isascii() and ch.isdigit()))
        if bad.isalpha():
            raise DialError(f"letters are not digits ({bad!r} in {raw.strip()!r})", clir=clir)
        if bad == "+":
            raise DialError("a '+' may only start the number", clir=clir)
        raise DialError(f"{bad!r} cannot be dialled", clir=clir)
    if plus:
        return DialString(body, international=True, clir=clir)
    for prefix in numbering.international_prefixes:
        if body.startswith(prefix):
            rest = body[len(prefix) :]
            if not rest:
                raise DialError("an international prefix with no number after it", clir=clir)
            return DialString(rest, international=True, clir=clir)
    return DialString(body, international=False, clir=clir)

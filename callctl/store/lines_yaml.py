"""Reading the lines file (``lines:`` in YAML) into core :class:`Line` values, and back.

The format is described in ``docs/lines.md``. The whole file is checked before anything is
returned: the first problem raises :class:`LinesFileError` naming the entry (its index in
``lines``, its number and its line in the file) and the key. :func:`parse_line` applies the
same checks to one line given as a mapping (the REST API's bodies), :func:`line_mapping`
gives a line back in that form.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
from collections.abc import Hashable, Mapping
from typing import Any

import phonenumbers
import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.scanner import ScannerError

from callctl.core.lines import PRODUCTS, Address, Line
from callctl.core.tariff import Tariff, TariffError

LINE_KEYS = (
    "number",
    "product",
    "options",
    "install_address",
    "site_networks",
    "licences",
    "paused",
)
ADDRESS_KEYS = ("street", "postal_code", "city")
PRODUCTS_WITH_PLAN = ("classic", "klik")  # options checked against the tariff
_POSTAL_CODE = re.compile(r"[1-9][0-9]{3}")
_E164_TEXT = re.compile(r"\+[0-9][0-9 .\-/()]*")  # separators are allowed, letters are not
MAX_NESTING = 32
"""Deepest nesting of lists and mappings read (a lines file needs 5). Deeper documents are
refused before PyYAML recurses past Python's stack or rescans its open ``[``/``{`` levels
for every token (quadratic)."""

_shown = reprlib.Repr()
_shown.maxstring = _shown.maxother = 80
_shown.maxlevel = 3
"""``repr`` for messages, bounded: YAML aliases can make a value of billions of elements."""


class LinesFileError(ValueError):
    """The lines file cannot be used; the message names the entry and the key."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key  # the key at fault (e.g. "options", "install_address.city"), if one


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, and nesting deeper
    than ``MAX_NESTING``."""

    _depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # PyYAML's argument name
        if self.flow_level >= MAX_NESTING:
            raise ScannerError(
                None, None, f"more than {MAX_NESTING} nested '[' or '{{'", self.get_mark()
            )
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self._depth >= MAX_NESTING:
            raise ComposerError(
                None, None, f"lists and mappings nested more than {MAX_NESTING} deep",
                self.get_mark(),
            )  # fmt: skip
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, IndexError, KeyError, AttributeError) as exc:
            if not isinstance(node, ScalarNode):
                raise
            # PyYAML's scalar constructors fail this way on a value its explicit tag does not
            # fit (``!!int x``, ``!!int`` alone, ``!!bool x``, ``!!timestamp x`` …).
            raise ConstructorError(
                None, None,
                f"the value {_shown.repr(node.value)} cannot be read as "
                f"{node.tag.replace('tag:yaml.org,2002:', '!!')} "
                f"({type(exc).__name__})",
                node.start_mark,
            ) from None  # fmt: skip

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # refused below by PyYAML ("found unhashable key")
            if key in seen:
                raise ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {_shown.repr(key)} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load(text: str) -> tuple[Any, list[int]]:
    """The document, and the file line (1-based) of each entry of ``lines``."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # reads the whole text already: refuses control characters
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise LinesFileError(f"not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, _entry_lines(node)


def _entry_lines(root: Node | None) -> list[int]:
    if not isinstance(root, MappingNode):
        return []
    for key, value in root.value:
        if key.value == "lines" and isinstance(value, SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


class _Entry:
    """Where a problem is: ``lines[i]``, its number once known, its line in the file."""

    def __init__(self, index: int | None, file_line: int | None) -> None:
        self.index = index  # None: a single line, not an entry of a file
        self.file_line = file_line
        self.number: str | None = None

    def error(self, key: str | None, message: str) -> LinesFileError:
        if self.index is None:
            at = f"line {self.number}" if self.number else "line"
        else:
            where = [self.number or "no number"]
            if self.file_line is not None:
                where.append(f"file line {self.file_line}")
            at = f"lines[{self.index}] ({', '.join(where)})"
        return LinesFileError(f"{at}: {key}: {message}" if key else f"{at}: {message}", key)


def parse_lines_yaml(text: str, tariff: Tariff) -> list[Line]:
    """Check and read a lines file; the lines in file order, numbers in E.164."""
    data, file_lines = _load(text)
    if not isinstance(data, Mapping):
        raise LinesFileError("the file must be a mapping with a 'lines:' list")
    unknown = sorted(str(k) for k in data if k != "lines")
    if unknown:
        raise LinesFileError(f"unknown top-level key {unknown[0]!r} (only 'lines' is allowed)")
    entries = data.get("lines")
    if not isinstance(entries, list):
        raise LinesFileError("'lines' must be a list of lines")
    result: list[Line] = []
    owner: dict[str, str] = {}  # every number (line or licence) → where it was first seen
    for index, raw in enumerate(entries):
        entry = _Entry(index, file_lines[index] if index < len(file_lines) else None)
        line = _parse_line(raw, entry, tariff)
        for key, number in [("number", line.number)] + [("licences", n) for n in line.licences]:
            first = owner.get(number)
            if first is not None:
                raise entry.error(key, f"{number} is already {first}")
            what = "a line" if key == "number" else "a licence"
            owner[number] = f"{what} at lines[{index}] ({line.number})"
        result.append(line)
    return result


def parse_line(raw: Mapping[str, Any], tariff: Tariff) -> Line:
    """One line given as a mapping with the keys of a file entry, checked the same way."""
    return _parse_line(raw, _Entry(None, None), tariff)


def line_mapping(line: Line) -> dict[str, Any]:
    """A line as an entry of the lines file (docs/lines.md), number in E.164."""
    address = line.install_address
    return {
        "number": line.number,
        "product": line.product,
        "options": list(line.options),
        "install_address": None
        if address is None
        else {"street": address.street, "postal_code": address.postal_code, "city": address.city},
        "site_networks": list(line.site_networks),
        "licences": list(line.licences),
        "paused": line.paused,
    }


def e164(text: str) -> str:
    """A phone number written with ``+`` (separators allowed) in E.164, else ValueError."""
    try:
        return _e164(text, _Entry(None, None), "")
    except LinesFileError as exc:
        raise ValueError(str(exc).removeprefix("line: ")) from None


def _parse_line(raw: object, entry: _Entry, tariff: Tariff) -> Line:
    if not isinstance(raw, Mapping):
        raise entry.error(None, f"a line must be a mapping of keys, not {_kind(raw)}")
    if "number" in raw:  # first, so that every other message names the line
        entry.number = _e164(raw["number"], entry, "number")
    unknown = [str(k) for k in raw if k not in LINE_KEYS]
    if unknown:
        allowed = ", ".join(LINE_KEYS)
        raise entry.error(unknown[0], f"unknown key (allowed: {allowed})")
    for key in ("number", "product", "install_address"):
        if key not in raw:
            raise entry.error(key, "required")
    number = entry.number
    assert number is not None  # checked just above

    product = raw["product"]
    if not isinstance(product, str) or product not in PRODUCTS:
        choices = ", ".join(PRODUCTS)
        raise entry.error("product", f"must be one of {choices}, not {_shown.repr(product)}")

    options = _strings(raw.get("options", []), entry, "options")
    if len(set(options)) != len(options):
        raise entry.error("options", "an option is listed twice")
    if product in PRODUCTS_WITH_PLAN:
        try:
            tariff.plan(product, options)
        except TariffError as exc:
            raise entry.error("options", str(exc)) from None
    elif options:
        raise entry.error("options", f"{product} takes no options")

    networks = []
    for text in _strings(raw.get("site_networks", []), entry, "site_networks"):
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise entry.error("site_networks", f"{text!r} is not a network (CIDR)") from None

    licences = [
        _e164(n, entry, "licences") for n in _strings(raw.get("licences", []), entry, "licences")
    ]
    if licences and product != "phone2go":
        raise entry.error("licences", f"only phone2go lines have licences, not {product}")

    paused = raw.get("paused", False)
    if not isinstance(paused, bool):
        raise entry.error("paused", f"must be true or false, not {_shown.repr(paused)}")

    return Line(
        number=number,
        product=product,
        options=tuple(options),
        install_address=_address(raw["install_address"], entry),
        site_networks=tuple(networks),
        licences=tuple(licences),
        paused=paused,
    )


def _address(raw: object, entry: _Entry) -> Address:
    key = "install_address"
    if not isinstance(raw, Mapping):
        raise entry.error(key, f"must be a mapping of {', '.join(ADDRESS_KEYS)}")
    unknown = [str(k) for k in raw if k not in ADDRESS_KEYS]
    if unknown:
        raise entry.error(
            f"{key}.{unknown[0]}", f"unknown key (allowed: {', '.join(ADDRESS_KEYS)})"
        )
    values: dict[str, str] = {}
    for part in ADDRESS_KEYS:
        value = raw.get(part)
        if part == "postal_code" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # `postal_code: 1000` is read as a number; Belgian codes have no 0
        if not isinstance(value, str) or not value.strip():
            raise entry.error(f"{key}.{part}", "required text")
        values[part] = value.strip()
    if not _POSTAL_CODE.fullmatch(values["postal_code"]):
        raise entry.error(
            f"{key}.postal_code", f"must be 4 digits (1000-9999), not {values['postal_code']!r}"
        )
    return Address(**values)


def _strings(raw: object, entry: _Entry, key: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise entry.error(key, f"must be a list of text, not {_kind(raw)}")
    return list(raw)


def _e164(raw: object, entry: _Entry, key: str) -> str:
    """A possible international number, in E.164 (spaces and dots allowed in the file)."""
    if not isinstance(raw, str):
        hint = " (quote it: '+32…', or YAML reads it as a number)" if isinstance(raw, int) else ""
        raise entry.error(key, f"must be a number as text in E.164{hint}, not {_shown.repr(raw)}")
    if not _E164_TEXT.fullmatch(raw.strip()):
        raise entry.error(key, f"{raw!r} is not in E.164 (+, country code and digits)")
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        reason = re.sub(r"^\(\d+\) ", "", str(exc))  # phonenumbers puts "(error type) " first
        raise entry.error(key, f"{raw!r} is not a phone number: {reason}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise entry.error(key, f"{raw!r} is not a possible phone number")
    number: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return number


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), _shown.repr(value)
    )

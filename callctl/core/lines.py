"""A customer line as the core sees it: number, product, options and where it is installed."""

from __future__ import annotations

from dataclasses import dataclass, field

PRODUCTS = ("classic", "klik", "phone2go")


@dataclass(frozen=True, slots=True)
class Address:
    """The declared installation address (R9: the location of a fixed line)."""

    street: str
    postal_code: str
    city: str


@dataclass(frozen=True, slots=True)
class Line:
    """One line: an E.164 number with its product, options and installation site."""

    number: str  # E.164, e.g. +3222000001
    product: str  # classic | klik | phone2go
    options: tuple[str, ...] = ()
    install_address: Address | None = None
    site_networks: tuple[str, ...] = ()  # CIDR, the site's public networks (R9 desktop trust)
    licences: tuple[str, ...] = field(default=())  # Phone2Go licence numbers (R9)
    paused: bool = False  # set by an operator; R7 pauses come from the counters

"""Rule R9 (first part): which emergency centre serves a place.

112 and 100 go to the 112 centre of the province, 101 to the province's police CIC. The
province comes from a Belgian postal code by R9's ranges. Location trust for Phone2Go comes
with the caller-location work; fixed lines use their installation address (trusted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callctl.core.lines import Address


class EmergencyDataError(ValueError):
    """The emergency routing data is not usable."""


@dataclass(frozen=True, slots=True)
class Centres:
    province: str
    psap: str  # trunk for 112 and 100
    cic: str  # trunk for 101


@dataclass(frozen=True, slots=True)
class EmergencyPlan:
    postal_ranges: tuple[tuple[int, int, str], ...]
    psap_centre: Mapping[str, str]
    psap_trunk_prefix: str
    cic_trunk_prefix: str
    default_province: str

    def province_of_postal_code(self, postal_code: str) -> str | None:
        """R9: the province of a Belgian postal code, or None if it is not one."""
        code = postal_code.strip()
        if len(code) != 4 or not code.isascii() or not code.isdigit():
            return None
        value = int(code)
        for first, last, province in self.postal_ranges:
            if first <= value <= last:
                return province
        return None

    def centres(self, province: str) -> Centres:
        return Centres(
            province=province,
            psap=f"{self.psap_trunk_prefix}-{self.psap_centre[province]}",
            cic=f"{self.cic_trunk_prefix}-{province}",
        )

    def centres_for_address(self, address: Address | None) -> Centres:
        """The centres of an installation address; the default province when unusable."""
        province = None
        if address is not None:
            province = self.province_of_postal_code(address.postal_code)
        return self.centres(province or self.default_province)

    def trunk_for(self, dialled_emergency: str, centres: Centres) -> str:
        """101 goes to the police CIC, 112 and 100 to the 112 centre."""
        return centres.cic if dialled_emergency == "101" else centres.psap


def parse_emergency_plan(data: Mapping[str, Any]) -> EmergencyPlan:
    try:
        ranges = tuple(
            (int(r["range"][0]), int(r["range"][1]), str(r["province"]))
            for r in data["postal_ranges"]
        )
        centre = {str(k): str(v) for k, v in data["psap_centre"].items()}
        plan = EmergencyPlan(
            postal_ranges=ranges,
            psap_centre=centre,
            psap_trunk_prefix=str(data["psap_trunk_prefix"]),
            cic_trunk_prefix=str(data["cic_trunk_prefix"]),
            default_province=str(data["default_province"]),
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise EmergencyDataError(f"emergency data: {exc!r}") from None
    unknown = {p for _, _, p in ranges} - set(centre)
    if unknown or plan.default_province not in centre:
        raise EmergencyDataError(f"emergency data: provinces without a centre: {unknown}")
    return plan

"""``/v1/lines``: list, read, create, replace and delete lines (the fields of docs/lines.md).

Bodies are checked with the lines file's own rules (:func:`callctl.store.lines_yaml.parse_line`:
E.164 numbers, options the product offers, CIDR networks, Belgian postal codes), so a line
the API accepts is one ``callctl lines import`` would accept. Changes reach the controller's
decisions at once (its cached copy of the line is dropped).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.routing import Route
from callctl.api.types import Number
from callctl.core.lines import Line
from callctl.http.errors import ApiError, ErrorDetail
from callctl.http.keys import CONTROLLER
from callctl.store.lines_yaml import LinesFileError, line_mapping, parse_line

Product = Literal["classic", "klik", "phone2go"]  # callctl.core.lines.PRODUCTS (a test compares)


class Address(BaseModel):
    """The declared installation address (R9: a fixed line's emergency location)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    street: str = Field(min_length=1, max_length=255, examples=["Rue de la Loi 16"])
    postal_code: str = Field(pattern=r"^[1-9][0-9]{3}$", examples=["1000"])
    city: str = Field(min_length=1, max_length=255, examples=["Bruxelles"])


class LineFields(BaseModel):
    """A line without its number (the body of a replacement)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    product: Product
    options: list[str] = Field(
        default_factory=list, max_length=8, description="options the product offers (tariff)"
    )
    install_address: Address
    site_networks: list[str] = Field(
        default_factory=list, max_length=64, description="the site's public networks (CIDR)"
    )
    licences: list[str] = Field(
        default_factory=list, max_length=16, description="phone2go only: licence numbers"
    )
    paused: bool = Field(False, description="paused by an operator: new calls refused")


class LineIn(LineFields):
    """A new line."""

    number: str = Field(max_length=64, examples=["+3222345601"], description="E.164")


class LineOut(BaseModel):
    """A stored line, as in the lines file."""

    number: str
    product: Product
    options: list[str]
    install_address: Address | None
    site_networks: list[str]
    licences: list[str]
    paused: bool


class LineList(BaseModel):
    lines: list[LineOut]


class LinePath(BaseModel):
    number: Number


def line_out(line: Line) -> LineOut:
    return LineOut.model_validate(line_mapping(line))


def checked(body: LineFields, number: str, request: web.Request) -> Line:
    """The body as a core line, checked as the lines file is (422 naming the field)."""
    raw = {**body.model_dump(), "number": number}
    try:
        return parse_line(raw, request.app[CONTROLLER].tariff)
    except LinesFileError as exc:
        field = f"body.{exc.key}" if exc.key else "body"
        raise ApiError(
            "invalid_input", str(exc), [ErrorDetail(field=field, problem=str(exc))]
        ) from None


def not_found(number: str) -> ApiError:
    return ApiError("line_not_found", f"there is no line {number}")


async def list_lines(request: web.Request) -> LineList:
    lines = await request.app[CONTROLLER].store.list_lines()
    return LineList(lines=[line_out(line) for line in lines])


async def get_line(request: web.Request, *, path: LinePath) -> LineOut:
    line = await request.app[CONTROLLER].store.get_line(path.number)
    if line is None:
        raise not_found(path.number)
    return line_out(line)


async def create_line(request: web.Request, *, body: LineIn) -> LineOut:
    line = checked(body, body.number, request)
    controller = request.app[CONTROLLER]
    if not await controller.store.add_line(line):
        raise ApiError("line_exists", f"line {line.number} exists already (replace it with PUT)")
    controller.lines.forget(line.number)
    return line_out(line)


async def replace_line(request: web.Request, *, path: LinePath, body: LineFields) -> LineOut:
    line = checked(body, path.number, request)
    controller = request.app[CONTROLLER]
    if not await controller.store.replace_line(line):
        raise not_found(path.number)
    controller.lines.forget(line.number)
    return line_out(line)


async def delete_line(request: web.Request, *, path: LinePath) -> None:
    controller = request.app[CONTROLLER]
    if not await controller.store.delete_line(path.number):
        raise not_found(path.number)
    controller.lines.forget(path.number)


ROUTES = (
    Route("GET", "/v1/lines", list_lines, "Every line, by number", "lines"),
    Route("GET", "/v1/lines/{number}", get_line, "One line", "lines", errors=("line_not_found",)),
    Route(
        "POST", "/v1/lines", create_line, "Add a line", "lines",
        role="admin", status=201, errors=("line_exists",),
    ),
    Route(
        "PUT", "/v1/lines/{number}", replace_line, "Replace a line's fields", "lines",
        role="admin", errors=("line_not_found",),
    ),
    Route(
        "DELETE", "/v1/lines/{number}", delete_line,
        "Remove a line (its counters and records stay)", "lines",
        role="admin", status=204, errors=("line_not_found",),
    ),
)  # fmt: skip

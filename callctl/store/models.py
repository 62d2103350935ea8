"""The database schema: lines, usage counters (R6, R7), call records (R10) and API tokens.

Typed SQLAlchemy 2 declarative models. The migration in ``migrations/versions`` creates the
same schema (a test compares them). Money is ``NUMERIC(14, 4)`` read as :class:`Decimal`;
times are stored in UTC and always read back as aware UTC datetimes, on SQLite too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

NUMBER_LENGTH = 16  # E.164: "+" and at most 15 digits
KEY_LENGTH = 255
MONEY_SCALE = 4
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)

# Deterministic constraint and index names, so migrations can name what they change.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; naive datetimes are refused.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the UTC wall time is
    stored and UTC is put back when it is read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (times must be aware)")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An amount in euros to the ten-thousandth (R8), ``NUMERIC(14, 4)``, read as Decimal.

    SQLite has no decimal type: it keeps such a value as a float, which holds 14 significant
    digits exactly; it is read as a float and turned back into the Decimal it was.
    """

    impl = Numeric(14, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(14, MONEY_SCALE, asdecimal=False))
        return dialect.type_descriptor(Numeric(14, MONEY_SCALE))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__}")
        exact = value.quantize(_MONEY_QUANTUM)
        if exact != value:
            raise ValueError(f"{value} has more than {MONEY_SCALE} decimals")
        return str(exact) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        # str() of a float is its shortest round-trip form, i.e. the digits that were stored.
        return Decimal(str(value)).quantize(_MONEY_QUANTUM)


# An id that is BIGINT on PostgreSQL and INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: UTCDateTime(),
        Decimal: Money(),
        list[str]: JSON(),
    }


class LineRow(Base):
    """A line (callctl.core.lines.Line); the address is three nullable columns."""

    __tablename__ = "lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(NUMBER_LENGTH), unique=True)
    product: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[str]]
    install_street: Mapped[str | None] = mapped_column(String(255))
    install_postal_code: Mapped[str | None] = mapped_column(String(16))
    install_city: Mapped[str | None] = mapped_column(String(255))
    site_networks: Mapped[list[str]]
    licences: Mapped[list[str]]
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UsageRow(Base):
    """A line's counters for one billing period (callctl.core.rating.Usage; R6, R7)."""

    __tablename__ = "usage"
    __table_args__ = (UniqueConstraint("line", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    line: Mapped[str] = mapped_column(String(NUMBER_LENGTH))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Europe/Brussels
    bundle_seconds: Mapped[int] = mapped_column(Integer, default=0)
    fair_use_seconds: Mapped[int] = mapped_column(Integer, default=0)


class CallRecordRow(Base):
    """One call attempt (callctl.core.records.CallRecord; R10), unique by (host, call_id)."""

    __tablename__ = "call_records"
    __table_args__ = (
        UniqueConstraint("host", "call_id"),
        Index(None, "line", "decided_at"),
        Index(None, "group"),
        Index(None, "disposition"),
        Index(None, "decided_at", "id"),  # the API's keyset pages and exports (0002)
        Index(None, "line", "period"),  # statements (0002)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(KEY_LENGTH))
    call_id: Mapped[str] = mapped_column(String(KEY_LENGTH))
    line: Mapped[str] = mapped_column(String(NUMBER_LENGTH))
    dialled: Mapped[str] = mapped_column(String(255))
    e164: Mapped[str | None] = mapped_column(String(NUMBER_LENGTH))
    group: Mapped[str] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(8))
    clir: Mapped[bool] = mapped_column(Boolean)
    action: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(64))
    sip_code: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    billsec: Mapped[int] = mapped_column(Integer)
    disposition: Mapped[str] = mapped_column(String(16))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    period: Mapped[str | None] = mapped_column(String(7))
    peak_seconds: Mapped[int] = mapped_column(Integer)
    offpeak_seconds: Mapped[int] = mapped_column(Integer)
    bundle_seconds: Mapped[int] = mapped_column(Integer)
    fair_use_seconds: Mapped[int] = mapped_column(Integer)
    charged_seconds: Mapped[int] = mapped_column(Integer)
    setup_fee: Mapped[Decimal]
    per_call_fee: Mapped[Decimal]
    amount: Mapped[Decimal]
    tariff_id: Mapped[str] = mapped_column(String(64))
    location_source: Mapped[str | None] = mapped_column(String(32))
    location_trusted: Mapped[bool | None] = mapped_column(Boolean)
    location_province: Mapped[str | None] = mapped_column(String(32))
    location_reasons: Mapped[list[str]]
    source: Mapped[str] = mapped_column(String(16))
    alert: Mapped[str | None] = mapped_column(String(32))  # fraud guard alert kind (0004)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiTokenRow(Base):
    """A bearer token of the REST API: only its SHA-256 is kept (``callctl tokens``)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # read | admin
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

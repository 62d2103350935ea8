"""Settings of ``callctl serve``: defaults, then a TOML file, then CALLCTL_* variables,
then command-line flags, each overriding the one before."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from callctl.store.db import DEFAULT_URL


class ConfigError(ValueError):
    """A setting is missing, of the wrong type, or unknown; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = DEFAULT_URL
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    agi_deadline: float = 1.5  # seconds before the safe answer (the dialplan's fallback)
    max_sessions: int = 64
    # FastAGI connections open at once (0: four times max_sessions) and the time a new one
    # has to send its environment (docs/operations.md, "Misbehaving AGI peers")
    agi_max_connections: int = 0
    agi_env_timeout: float = 1.0
    tariff: str | None = None  # a tariff TOML file; the shipped one when unset
    clock: str | None = None  # test clock: ISO time "now" is when serve starts
    log_level: str = "INFO"
    # /healthz and /metrics answer without a token to loopback clients (127.0.0.0/8, ::1)
    http_open_loopback: bool = True
    # Fraud guard (docs/security.md): Asterisk's security log to follow (off when unset), the
    # pjsip ACL include callctl writes the blocked addresses to, and the command that makes
    # Asterisk read it again.
    security_log: str | None = None
    acl_file: str | None = None
    acl_reload: str = "asterisk -rx 'module reload res_pjsip.so'"
    # The durable spool of writes the database did not take (docs/operations.md, "Database
    # unavailable"): a SQLite file; unset: callctl-spool-<digest of db>.db next to a SQLite
    # database, else in the working directory. Beyond spool_max entries, calls are no
    # longer decided without the database (the dialplan's fallback decides).
    spool: str | None = None
    spool_max: int = 100_000
    # Seconds between two malloc_trim(0) calls, which give the C heap's free pages back
    # (callctl/service/heap.py); 0 turns it off.
    malloc_trim_interval: float = 60.0

    def clock_start(self) -> datetime | None:
        if not self.clock:
            return None
        try:
            start = datetime.fromisoformat(self.clock)
        except ValueError:
            raise ConfigError(f"clock: {self.clock!r} is not an ISO 8601 time") from None
        if start.tzinfo is None:
            raise ConfigError("clock: give a UTC offset (e.g. 2026-11-26T10:00:00+01:00)")
        return start


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _coerce(name: str, kind: Any, value: object) -> object:
    if value is None:
        return None
    if str(kind) == "bool":  # TOML true/false, or the text of an environment variable
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise ConfigError(f"setting {name}: {value!r} is not true or false")
    target = {"int": int, "float": float}.get(str(kind))
    # TOML gives typed values: a bool is not a number, a float is not an int (int(4573.9)
    # would silently drop the fraction), and a number is not a text setting.
    if (
        isinstance(value, bool)
        or (target is int and isinstance(value, float))
        or (target is None and not isinstance(value, str))
    ):
        raise ConfigError(f"setting {name}: {value!r} is not a valid {kind}")
    try:
        if target is not None:
            return target(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}: {value!r} is not a valid {kind}") from None


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Defaults < file (table [callctl]) < environment (CALLCTL_<NAME>) < overrides."""
    kinds = {f.name: f.type for f in fields(Settings)}
    values: dict[str, object] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        outside = sorted(set(data) - {"callctl"})
        if outside:  # e.g. settings written without the [callctl] header would be ignored
            raise ConfigError(
                f"{path}: unknown key(s) {', '.join(outside)} outside the [callctl] table"
            )
        table = data.get("callctl", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: callctl must be a table ([callctl])")
        unknown = set(table) - set(kinds)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
        values.update(table)
    for name in kinds:
        value = (env if env is not None else os.environ).get(f"CALLCTL_{name.upper()}")
        if value is not None:
            values[name] = value
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    coerced: dict[str, Any] = {k: _coerce(k, kinds[k], v) for k, v in values.items()}
    settings = replace(Settings(), **coerced)
    settings.clock_start()  # checked now rather than at the first call
    return settings

"""Settings of ``callctl serve`` (``callctl.service.config``): defaults < file (table
[callctl]) < environment (CALLCTL_<NAME>) < overrides (command-line flags)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from callctl.service.config import ConfigError, Settings, load_settings
from callctl.store.db import DEFAULT_URL


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callctl.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings(env={})
    assert s == Settings()
    assert (s.db, s.agi_host, s.agi_port, s.http_host, s.http_port) == (
        DEFAULT_URL,
        "127.0.0.1",
        4573,  # the port of dialplan/extensions.conf's agi://127.0.0.1:4573
        "127.0.0.1",
        8080,
    )
    assert (s.agi_deadline, s.max_sessions, s.tariff, s.clock, s.log_level) == (
        1.5,
        64,
        None,
        None,
        "INFO",
    )
    assert s.clock_start() is None


def test_every_setting_has_an_environment_variable() -> None:
    env = {
        "CALLCTL_DB": "sqlite:///e.db",
        "CALLCTL_AGI_HOST": "0.0.0.0",
        "CALLCTL_AGI_PORT": "4600",
        "CALLCTL_HTTP_HOST": "0.0.0.0",
        "CALLCTL_HTTP_PORT": "8081",
        "CALLCTL_AGI_DEADLINE": "0.75",
        "CALLCTL_MAX_SESSIONS": "8",
        "CALLCTL_AGI_MAX_CONNECTIONS": "100",
        "CALLCTL_AGI_ENV_TIMEOUT": "0.25",
        "CALLCTL_TARIFF": "/etc/callctl/tariff.toml",
        "CALLCTL_CLOCK": "2026-11-26T10:00:00+01:00",
        "CALLCTL_LOG_LEVEL": "DEBUG",
        "CALLCTL_HTTP_OPEN_LOOPBACK": "false",
        "CALLCTL_SECURITY_LOG": "/var/log/asterisk/security.log",
        "CALLCTL_ACL_FILE": "/etc/asterisk/pjsip_blocks.conf",
        "CALLCTL_ACL_RELOAD": "sudo asterisk -rx 'module reload res_pjsip.so'",
        "CALLCTL_SPOOL": "/var/lib/callctl/spool.db",
        "CALLCTL_SPOOL_MAX": "5000",
        "CALLCTL_MALLOC_TRIM_INTERVAL": "300",
    }
    assert {f"CALLCTL_{f.name.upper()}" for f in fields(Settings)} == set(env)
    s = load_settings(env=env)
    assert s == Settings(
        db="sqlite:///e.db",
        agi_host="0.0.0.0",
        agi_port=4600,
        http_host="0.0.0.0",
        http_port=8081,
        agi_deadline=0.75,
        max_sessions=8,
        agi_max_connections=100,
        agi_env_timeout=0.25,
        tariff="/etc/callctl/tariff.toml",
        clock="2026-11-26T10:00:00+01:00",
        log_level="DEBUG",
        http_open_loopback=False,
        security_log="/var/log/asterisk/security.log",
        acl_file="/etc/asterisk/pjsip_blocks.conf",
        acl_reload="sudo asterisk -rx 'module reload res_pjsip.so'",
        spool="/var/lib/callctl/spool.db",
        spool_max=5000,
        malloc_trim_interval=300.0,
    )
    assert s.clock_start() == datetime(2026, 11, 26, 10, tzinfo=timezone(timedelta(hours=1)))


def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[callctl]\ndb = "sqlite:///file.db"\nagi_port = 5001\nhttp_port = 5002\n'
        "max_sessions = 5\n",
    )
    env = {"CALLCTL_AGI_PORT": "6001", "CALLCTL_HTTP_PORT": "6002", "OTHER": "x"}
    overrides: dict[str, object] = {"http_port": 7002, "db": None}  # None: flag not given
    s = load_settings(path, env=env, overrides=overrides)
    assert s.db == "sqlite:///file.db"  # file over default, the None override ignored
    assert s.max_sessions == 5  # file over default
    assert s.agi_port == 6001  # env over file
    assert s.http_port == 7002  # override over env
    assert s.agi_host == "127.0.0.1"  # default
    assert load_settings(path, env={}).agi_port == 5001
    assert load_settings(env=env).agi_port == 6001
    assert load_settings(env={}, overrides={"agi_port": 9}).agi_port == 9


def test_the_process_environment_is_read_when_env_is_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLCTL_HTTP_PORT", "8181")
    assert load_settings().http_port == 8181


def test_an_empty_file_or_table_is_the_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, ""), env={}) == Settings()
    assert load_settings(write(tmp_path, "[callctl]\n"), env={}) == Settings()


def test_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, '[callctl]\nagi_prot = 4600\ndb = "sqlite:///x.db"\n')
    with pytest.raises(ConfigError, match=r"unknown setting.*agi_prot"):
        load_settings(path, env={})


def test_keys_outside_the_callctl_table_are_named(tmp_path: Path) -> None:
    """Settings written without the [callctl] header would otherwise be silently ignored."""
    with pytest.raises(ConfigError, match=r"agi_port.*outside the \[callctl\] table"):
        load_settings(write(tmp_path, "agi_port = 4600\n"), env={})
    with pytest.raises(ConfigError, match="serve"):
        load_settings(write(tmp_path, "[serve]\nagi_port = 4600\n"), env={})
    with pytest.raises(ConfigError, match="callctl must be a table"):
        load_settings(write(tmp_path, "callctl = 3\n"), env={})


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[callctl\n"), env={})


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"CALLCTL_AGI_PORT": "http"}, "agi_port"),
        ({"CALLCTL_AGI_PORT": "4573.5"}, "agi_port"),
        ({"CALLCTL_AGI_PORT": ""}, "agi_port"),
        ({"CALLCTL_MAX_SESSIONS": "many"}, "max_sessions"),
        ({"CALLCTL_AGI_DEADLINE": "soon"}, "agi_deadline"),
    ],
)
def test_bad_number_in_the_environment(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=f"setting {name}:"):
        load_settings(env=env)


def test_open_loopback_is_a_yes_or_no_setting(tmp_path: Path) -> None:
    """The HTTP server's token-free loopback paths are on unless turned off."""
    assert load_settings(env={}).http_open_loopback is True
    off = write(tmp_path, "[callctl]\nhttp_open_loopback = false\n")
    assert load_settings(off, env={}).http_open_loopback is False
    for text, value in (("no", False), ("0", False), ("TRUE", True), ("yes", True)):
        env = {"CALLCTL_HTTP_OPEN_LOOPBACK": text}
        assert load_settings(env=env).http_open_loopback is value
    with pytest.raises(ConfigError, match="setting http_open_loopback:"):
        load_settings(env={"CALLCTL_HTTP_OPEN_LOOPBACK": "maybe"})


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("http_open_loopback = 1", "http_open_loopback"),  # a number is not true/false
        ('agi_port = "x"', "agi_port"),
        ("agi_port = 4573.9", "agi_port"),  # not silently truncated to 4573
        ("http_port = true", "http_port"),  # a bool is not a number
        ("max_sessions = [1]", "max_sessions"),
        ("agi_deadline = false", "agi_deadline"),
        ("db = 5", "db"),  # a text setting
        ("log_level = true", "log_level"),
    ],
)
def test_bad_value_in_the_file(tmp_path: Path, line: str, name: str) -> None:
    with pytest.raises(ConfigError, match=f"setting {name}:"):
        load_settings(write(tmp_path, f"[callctl]\n{line}\n"), env={})


def test_whole_numbers_are_good_floats(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "[callctl]\nagi_deadline = 2\n"), env={})
    assert s.agi_deadline == 2.0
    assert isinstance(s.agi_deadline, float)


@pytest.mark.parametrize(
    ("clock", "message"),
    [
        ("2026-11-26T10:00:00", "give a UTC offset"),  # naive: which instant?
        ("2026-11-26", "give a UTC offset"),
        ("yesterday", "is not an ISO 8601 time"),
        ("2026-13-01T00:00:00+01:00", "is not an ISO 8601 time"),
        ("26/11/2026 10:00", "is not an ISO 8601 time"),
    ],
)
def test_bad_clock(clock: str, message: str) -> None:
    """Checked when the settings are loaded, not at the first call."""
    with pytest.raises(ConfigError, match=f"clock: .*{message}"):
        load_settings(env={"CALLCTL_CLOCK": clock})
    with pytest.raises(ConfigError, match=message):
        load_settings(env={}, overrides={"clock": clock})


def test_good_clock_in_utc() -> None:
    s = load_settings(env={"CALLCTL_CLOCK": "2026-11-26T09:00:00Z"})
    start = s.clock_start()
    assert start is not None
    assert start.utcoffset() == timedelta(0)

"""docker/: the compose file and the two Dockerfiles, checked without a Docker engine.

The development and CI machines have no Docker, so these files are never built here. This
checks what can be checked statically: the compose file parses and has its three services,
every path it names exists, every COPY source exists in its build context, the settings it
sets are real ``CALLCTL_<NAME>`` settings, the callctl image runs a real subcommand, and the
addresses agree with ``dialplan/``.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from callctl.cli.main import build_parser
from callctl.pbx.lab import CONFIG_FILES, PACKAGES
from callctl.service.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
SERVICES = {"postgres", "callctl", "asterisk"}
SETTINGS = {f"CALLCTL_{f.name.upper()}" for f in fields(Settings)}


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


COMPOSE = load_compose()


def service(name: str) -> dict[str, Any]:
    svc = COMPOSE["services"][name]
    assert isinstance(svc, dict)
    return svc


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR-default}``, with no variable set."""
    out = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", value)
    assert "${" not in out, f"variable without a default in {value!r}"
    return out


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    if isinstance(env, list):  # KEY=VALUE list form
        env = dict(item.split("=", 1) for item in env)
    assert isinstance(env, dict)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


# ----------------------------------------------------------------------------- Dockerfiles


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, continuation lines joined."""
    out: list[Instruction] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, f"{path}: ends inside a continued instruction"
    return out


def exec_form(args: str) -> list[str]:
    """CMD/ENTRYPOINT arguments: the JSON (exec) form, or the shell form as sh -c."""
    if args.startswith("["):
        value = json.loads(args)
        assert isinstance(value, list)
        assert all(isinstance(v, str) for v in value)
        return [str(v) for v in value]
    return ["/bin/sh", "-c", args]


def copy_sources(instruction: Instruction) -> list[str]:
    """The sources of a COPY/ADD (flags dropped); [] for COPY --from (another stage)."""
    if instruction.args.startswith("["):
        words = exec_form(instruction.args)
    else:
        words = shlex.split(instruction.args)
    flags = [w for w in words if w.startswith("--")]
    if any(f.startswith("--from=") for f in flags):
        return []
    paths = [w for w in words if not w.startswith("--")]
    assert len(paths) >= 2, f"{instruction}: needs a source and a destination"
    return paths[:-1]


def env_names(path: Path) -> set[str]:
    names: set[str] = set()
    for ins in instructions(path):
        if ins.keyword == "ENV":
            words = shlex.split(ins.args)
            if words and "=" not in words[0]:  # legacy ENV KEY value
                names.add(words[0])
            else:
                names.update(w.split("=", 1)[0] for w in words)
    return names


def builds() -> dict[str, tuple[Path, Path]]:
    """service → (build context, Dockerfile), resolved as compose does."""
    out: dict[str, tuple[Path, Path]] = {}
    for name, svc in COMPOSE["services"].items():
        build = svc.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        context = (DOCKER / build.get("context", ".")).resolve()
        dockerfile = (context / build.get("dockerfile", "Dockerfile")).resolve()
        out[name] = (context, dockerfile)
    return out


BUILDS = builds()


# ----------------------------------------------------------------------------- compose


def test_compose_has_the_three_services() -> None:
    assert set(COMPOSE["services"]) == SERVICES


def test_callctl_and_asterisk_are_built_from_this_repository() -> None:
    assert set(BUILDS) == {"callctl", "asterisk"}
    assert BUILDS["callctl"] == (ROOT, DOCKER / "Dockerfile")
    assert BUILDS["asterisk"] == (ROOT, DOCKER / "asterisk.Dockerfile")


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_build_context_and_dockerfile_exist(name: str) -> None:
    context, dockerfile = BUILDS[name]
    assert context.is_dir(), context
    assert dockerfile.is_file(), dockerfile


def mounts(name: str) -> list[tuple[str, str, bool, str]]:
    """(type, source, read_only, target) of a service's volumes, short or long syntax."""
    out: list[tuple[str, str, bool, str]] = []
    for volume in service(name).get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else "rw"
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            out.append((kind, source, "ro" in mode.split(","), target))
        else:
            out.append(
                (volume["type"], volume.get("source", ""), bool(volume.get("read_only")),
                 volume["target"])
            )  # fmt: skip
    return out


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_bind_mounted_host_path_exists(name: str) -> None:
    for kind, source, _, target in mounts(name):
        if kind == "bind":
            host = (DOCKER / interpolate(source)).resolve()
            assert host.exists(), f"{name}: {source} → {host} does not exist"
            assert ROOT in host.parents, f"{name}: {source} is outside the repository"
            assert target.startswith("/")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_named_volume_is_declared(name: str) -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for kind, source, _, _ in mounts(name):
        if kind == "volume":
            assert source in declared, f"{name}: volume {source} is not declared"


def test_dialplan_files_are_mounted_read_only_where_asterisk_reads_them() -> None:
    binds = [(s, ro, t) for kind, s, ro, t in mounts("asterisk") if kind == "bind"]
    assert binds, "asterisk mounts nothing from dialplan/"
    for source, read_only, target in binds:
        assert source.startswith("../dialplan/"), source
        assert read_only, source
        name = Path(source).name
        assert name in CONFIG_FILES
        assert target == f"/etc/asterisk/{name}"
    for kind, source, read_only, _ in mounts("callctl"):
        if kind == "bind":
            assert read_only, source


def test_postgres_has_a_healthcheck_and_callctl_waits_for_it() -> None:
    check = service("postgres")["healthcheck"]
    assert check["test"]
    assert "pg_isready" in " ".join(check["test"])
    assert service("callctl")["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_callctl_uses_the_postgres_service() -> None:
    env = environment("callctl")
    url = urlsplit(env["CALLCTL_DB"])
    assert url.scheme == "postgresql"
    pg = environment("postgres")
    assert url.username == pg["POSTGRES_USER"]
    assert url.password == pg["POSTGRES_PASSWORD"]
    assert url.path == "/" + pg["POSTGRES_DB"]
    # callctl is on the host's network: PostgreSQL must be published there, on loopback.
    published = [interpolate(str(p)) for p in service("postgres")["ports"]]
    assert f"{url.hostname}:{url.port}:5432" in published
    assert url.hostname == "127.0.0.1"


def test_asterisk_and_callctl_share_the_hosts_network() -> None:
    """The dialplan's addresses are loopback ones (AGI, SIP transport, lab trunks)."""
    for name in ("callctl", "asterisk"):
        assert service(name).get("network_mode") == "host", name
        assert "ports" not in service(name), f"{name}: ports mean nothing on the host network"


def test_callctl_listens_where_the_dialplan_looks_for_it() -> None:
    text = (ROOT / "dialplan" / "extensions.conf").read_text(encoding="utf-8")
    match = re.search(r"^CALLCTL_AGI = agi://([0-9.]+):([0-9]+)$", text, re.MULTILINE)
    assert match is not None
    env = environment("callctl")
    assert env["CALLCTL_AGI_HOST"] == match.group(1)
    assert env.get("CALLCTL_AGI_PORT", str(Settings().agi_port)) == match.group(2)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_callctl_variable_in_compose_is_a_setting(name: str) -> None:
    for key in environment(name):
        if key.startswith("CALLCTL_"):
            assert key in SETTINGS, f"{name}: {key} is not a setting of callctl serve"


def test_no_command_override_or_a_real_one() -> None:
    command = service("callctl").get("command")
    if command is not None:
        words = command if isinstance(command, list) else shlex.split(command)
        assert_callctl_command(["callctl", *words] if words[0] != "callctl" else words)


# ----------------------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_every_copy_source_exists_in_the_build_context(name: str) -> None:
    context, dockerfile = BUILDS[name]
    copies = [i for i in instructions(dockerfile) if i.keyword in ("COPY", "ADD")]
    assert copies, f"{dockerfile.name} copies nothing"
    for ins in copies:
        for source in copy_sources(ins):
            assert not source.startswith(("/", "..")), f"{source} leaves the build context"
            found = sorted(context.glob(source))
            assert found, f"{dockerfile.name}: COPY {source}: nothing in {context}"


def test_the_asterisk_image_gets_every_file_the_lab_installs() -> None:
    _, dockerfile = BUILDS["asterisk"]
    copied: set[str] = set()
    for ins in instructions(dockerfile):
        if ins.keyword == "COPY":
            for source in copy_sources(ins):
                copied.update(p.name for p in ROOT.glob(source))
    assert set(CONFIG_FILES) <= copied


def test_the_asterisk_image_follows_the_lab_recipe() -> None:
    """shared/spec/pbx-lab.md: policy-rc.d exiting 101 before installing the packages."""
    _, dockerfile = BUILDS["asterisk"]
    steps = [i for i in instructions(dockerfile) if i.keyword == "RUN"]
    text = " ".join(i.args for i in steps)
    assert instructions(dockerfile)[0].args.startswith("debian:sid")
    assert text.index("policy-rc.d") < text.index("apt-get -qq install")
    assert "exit 101" in text
    for package in PACKAGES:
        assert re.search(rf"\s{re.escape(package)}(\s|$)", text), package
    command = exec_form(last(dockerfile, "CMD"))
    assert "asterisk -f -U asterisk -G asterisk" in " ".join(command)


def last(dockerfile: Path, keyword: str) -> str:
    found = [i.args for i in instructions(dockerfile) if i.keyword == keyword]
    assert found, f"{dockerfile.name}: no {keyword}"
    return found[-1]


def test_the_callctl_image_base_and_user() -> None:
    _, dockerfile = BUILDS["callctl"]
    assert instructions(dockerfile)[0] == Instruction("FROM", "python:3.11-slim")
    user = last(dockerfile, "USER")
    assert user.split(":")[0] not in ("root", "0")


def test_the_callctl_image_sets_only_real_settings() -> None:
    _, dockerfile = BUILDS["callctl"]
    names = {n for n in env_names(dockerfile) if n.startswith("CALLCTL_")}
    assert "CALLCTL_DB" in names
    assert "CALLCTL_AGI_HOST" in names
    assert names <= SETTINGS, names - SETTINGS


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def assert_callctl_command(words: list[str]) -> None:
    assert words[0] == "callctl", words
    parser = build_parser()
    assert words[1] in subcommands(parser), f"{words[1]} is not a callctl subcommand"
    args = parser.parse_args(words[1:])  # the whole command line parses
    assert args.command == words[1]


def test_the_callctl_image_runs_a_real_callctl_subcommand() -> None:
    _, dockerfile = BUILDS["callctl"]
    entrypoint = [i.args for i in instructions(dockerfile) if i.keyword == "ENTRYPOINT"]
    words = [
        *(exec_form(entrypoint[-1]) if entrypoint else []),
        *exec_form(last(dockerfile, "CMD")),
    ]
    assert_callctl_command(words)
    assert words[:2] == ["callctl", "serve"]


def test_serve_is_what_the_parser_knows() -> None:
    """A guard for the guard: a made-up subcommand is rejected."""
    assert "serve" in subcommands(build_parser())
    with pytest.raises(AssertionError, match="not a callctl subcommand"):
        assert_callctl_command(["callctl", "server"])

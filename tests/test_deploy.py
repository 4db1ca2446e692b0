"""The Dockerfile, the image's config and the compose setup agree with each other and with the
code, read as data (there is no Docker engine on our machines; tests/test_packaging.py runs
what the image runs, from a wheel)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from proxy.config.loading import load_config
from tests.dockerfile import ROOT, copies, env, healthcheck_command, stages

COMPOSE = ROOT / "deploy" / "compose.yaml"
IMAGE_CONFIG = ROOT / "deploy" / "image.yaml"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _variables(node: Any) -> set[str]:
    """``${VAR}`` names in the string values of parsed YAML (comments are not config)."""
    if isinstance(node, dict):
        return set().union(*(_variables(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_variables(v) for v in node))
    return set(VARIABLE.findall(node)) if isinstance(node, str) else set()


def test_dockerfile_has_a_slim_proxy_target_and_a_full_default() -> None:
    found = stages()
    assert list(found) == ["build", "proxy", "full"], "the last stage is the default target"
    build, proxy, full = found["build"], found["proxy"], found["full"]
    assert build.startswith("python:3.11-slim AS build")
    assert "python -m build --wheel" in build
    assert re.search(r"pip install --no-cache-dir /tmp/\*\.whl", proxy)
    assert "[analysis]" not in proxy
    assert full.startswith("proxy AS full")
    assert re.search(r'pip install --no-cache-dir "\$\{wheel\}\[analysis\]"', full)
    assert "USER darklaunch" in proxy
    assert full.rstrip().endswith("USER darklaunch")
    assert 'ENTRYPOINT ["darklaunch", "serve"]' in proxy
    assert "HEALTHCHECK" in proxy
    assert "/healthz" in proxy


def test_dockerfile_copies_only_what_exists() -> None:
    every = [source for stage in stages() for sources, _ in copies(stage) for source in sources]
    assert len(every) >= 4
    for source in every:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_the_image_config_is_the_one_the_image_reads() -> None:
    assert (["deploy/image.yaml"], "/etc/darklaunch/darklaunch.yaml") in copies("proxy")
    assert env("proxy")["DARKLAUNCH_CONFIG"] == "/etc/darklaunch/darklaunch.yaml"


def test_the_image_config_listens_where_a_published_port_reaches() -> None:
    """Inside a container 127.0.0.1 is the container's own loopback: `-p 8080:8080` reaches
    nothing there, while a HEALTHCHECK from inside still passes."""
    config = load_config(IMAGE_CONFIG, env={})
    assert config.listen.host == "0.0.0.0"
    assert config.admin.host == "0.0.0.0"  # Prometheus scrapes it from another container
    assert config.worker.metrics.host == "0.0.0.0"
    assert (config.listen.port, config.admin.port) == (8080, 9090)
    assert "EXPOSE 8080 9090" in stages()["proxy"]
    assert config.admin.token is not None
    assert config.admin.token.get_secret_value() == ""


def test_the_healthcheck_reads_the_admin_port_the_image_config_reads() -> None:
    assert "DARKLAUNCH_ADMIN_PORT" in healthcheck_command("proxy")
    assert "${DARKLAUNCH_ADMIN_PORT:-9090}" in IMAGE_CONFIG.read_text()


def test_every_variable_of_the_image_config_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    deploy = readme.split("## Deploy", 1)[1].split("\n## ", 1)[0]
    used = _variables(yaml.safe_load(IMAGE_CONFIG.read_text()))
    assert used >= {"INCUMBENT_URL", "CANDIDATE_URL", "CANDIDATE_MODEL", "CAMPAIGN"}
    assert sorted(v for v in used if f"`{v}`" not in deploy) == []


def test_compose_passes_every_variable_its_config_uses() -> None:
    """A ``${VAR}`` the container never receives silently takes its default: the compose
    campaign and candidate model could not be changed from the host."""
    config_file = COMPOSE.parent / "darklaunch.yaml"
    used = _variables(yaml.safe_load(config_file.read_text()))
    assert used >= {"CANDIDATE_MODEL", "CAMPAIGN", "INCUMBENT_URL"}
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    readers = {
        name: service
        for name, service in services.items()
        if any(
            str(v).startswith("./darklaunch.yaml:/etc/darklaunch/")
            for v in service.get("volumes", [])
        )
    }
    assert set(readers) == {"darklaunch", "worker"}
    for name, service in readers.items():
        passed = set(service["environment"])
        assert sorted(used - passed) == [], f"compose service {name} does not pass these"
        assert service["environment"]["DARKLAUNCH_CONFIG"] == "/etc/darklaunch/darklaunch.yaml"


def test_compose_builds_the_slim_proxy_and_a_full_worker() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["darklaunch"]["build"]["target"] == "proxy"
    assert services["worker"]["build"]["target"] == "full"
    assert services["worker"]["entrypoint"] == ["darklaunch", "compare"]
    assert services["darklaunch"]["image"] != services["worker"]["image"]
    assert set(stages()) >= {"proxy", "full"}


def test_compose_mounts_only_files_that_exist() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    mounts = [
        str(volume).split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if str(volume).startswith(".")
    ]
    assert len(mounts) >= 4
    for source in mounts:
        assert (COMPOSE.parent / source).is_file() or (COMPOSE.parent / source).is_dir(), source

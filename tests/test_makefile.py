"""The Makefile: its apt-get waits for another package manager instead of failing at once,
and `make test` holds coverage to its floor.

The apt tests run the Makefile's own ``apt_get`` through ``make``, with apt pointed at a scratch
directory (its lists, cache and dpkg status), so that the test takes apt's locks there and never
the machine's. The lock is held by this process the way apt holds it (an ``fcntl`` lock), and
released only once the Makefile's command has shown it is waiting: a command that failed at
once would never have said so.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = ROOT / "Makefile"

pytestmark = pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("make") is None,
    reason="needs apt-get and make (Debian)",
)


def _scratch_apt(tmp_path: Path) -> str:
    """An apt-get command whose lists, cache, sources and dpkg status are under tmp_path."""
    for folder in ("lists/partial", "cache/archives/partial", "sources.list.d", "dpkg"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "sources.list").touch()
    (tmp_path / "dpkg" / "status").touch()
    options = {
        "Dir::State::Lists": tmp_path / "lists",
        "Dir::Cache": tmp_path / "cache",
        "Dir::Etc::SourceList": tmp_path / "sources.list",
        "Dir::Etc::SourceParts": tmp_path / "sources.list.d",
        "Dir::State::status": tmp_path / "dpkg" / "status",
    }
    return "apt-get " + " ".join(f"-o {name}={value}" for name, value in options.items())


@contextmanager
def _held(lock: Path) -> Iterator[IO[str]]:
    with lock.open("a") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield handle


def _make_apt_get(apt: str, args: str) -> list[str]:
    """Make's command line for ``$(call apt_get,<args>)`` from the Makefile, run as its
    recipes run it, with ``apt`` as the apt-get command."""
    return [
        "make", "--no-print-directory", "-f", str(MAKEFILE),
        "--eval", f"probe: ; @$(call apt_get,{args})", "probe",
        f"APT_GET={apt}", "APT_LOCK_TIMEOUT=120", "APT_LOCK_RETRY_S=0.2",
    ]  # fmt: skip


def _start(command: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for_line(process: subprocess.Popen[str], marker: str) -> list[str]:
    """Lines up to the first holding ``marker``; all of them if the process ended first."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            break
    return lines


def test_apt_get_update_waits_for_the_package_lists_lock(tmp_path: Path) -> None:
    """apt-get itself fails at once on this lock, whatever DPkg::Lock::Timeout says."""
    apt = _scratch_apt(tmp_path)
    with _held(tmp_path / "lists" / "lock"):
        process = _start(_make_apt_get(apt, "update -qq"), tmp_path)
        before = _wait_for_line(process, "apt is busy")
    output, _ = process.communicate(timeout=120)
    assert "apt is busy" in "".join(before), "".join(before)
    assert process.returncode == 0, "".join(before) + output


def test_apt_get_install_waits_for_the_dpkg_lock(tmp_path: Path) -> None:
    """apt-get waits for this one itself, told to by DPkg::Lock::Timeout, and says so."""
    apt = _scratch_apt(tmp_path)
    with _held(tmp_path / "dpkg" / "lock-frontend"):
        process = _start(_make_apt_get(apt, "install -y"), tmp_path)
        before = _wait_for_line(process, "Waiting for cache lock")
    output, _ = process.communicate(timeout=120)
    assert "Waiting for cache lock" in "".join(before), "".join(before)
    assert process.returncode == 0, "".join(before) + output


def test_apt_get_gives_up_on_other_failures_at_once(tmp_path: Path) -> None:
    """Only a held lock is worth waiting for: an unknown package fails on the first try."""
    apt = _scratch_apt(tmp_path)
    output = subprocess.run(
        _make_apt_get(apt, "install -y no-such-package-darklaunch"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert output.returncode != 0
    assert "Unable to locate package no-such-package-darklaunch" in output.stderr
    assert "apt is busy" not in output.stderr


@pytest.mark.parametrize("target", ["system-deps", "bench-deps"])
def test_every_apt_get_in_a_target_goes_through_the_waiting_wrapper(target: str) -> None:
    """``make -n`` prints a target's commands without running them; a missing command makes
    system-deps reach its apt-get calls."""
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "-f", str(MAKEFILE), target,
         "SYSTEM_DEPS=no-such-command-darklaunch:hello"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    calls = re.findall(r"apt-get( -o DPkg::Lock::Timeout=\d+)? (update|install)", dry_run)
    assert [verb for _, verb in calls] == ["update", "install"], dry_run
    assert all(timeout for timeout, _ in calls), dry_run
    assert dry_run.count("Could not get lock") == 2, dry_run


def test_make_test_holds_coverage_to_its_floor_including_subprocesses() -> None:
    """The floor only works while `make test` asks for it, and it only holds at today's
    level while the processes the tests start are measured too."""
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "-f", str(MAKEFILE), "test"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    pytest_line = next(line for line in dry_run.splitlines() if "bin/pytest" in line)
    assert "--cov=proxy --cov=comparators" in pytest_line
    floor = re.search(r"--cov-fail-under=(\d+)", pytest_line)
    assert floor is not None, pytest_line
    assert int(floor.group(1)) >= 96
    coverage = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["coverage"]
    assert "subprocess" in coverage["run"]["patch"]

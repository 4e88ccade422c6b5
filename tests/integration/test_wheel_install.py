"""The image's install path: build the wheel from what the Dockerfile copies, install it (not
editable) into a fresh virtualenv, and start every role from there against the embedded broker.

The fresh venv sees the test venv's third-party packages through a .pth line; .pth files inside
that folder (the editable finder of this checkout) are not processed, so only the wheel provides
abusewatch, which the test checks before anything starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from abusewatch.common import config
from abusewatch.ingest.topics import create_topics
from abusewatch.common.settings import KafkaSettings
from .conftest import stack_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# What the Dockerfile copies before `pip install .`.
BUILD_INPUTS = ("pyproject.toml", "README.md", "abusewatch", "services", "schemas", "models", "policy")
ROLES = ("classifier", "detector", "actions", "api")
READY_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with the built wheel installed; returns its bin/ folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    wheels = work / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
                   check=True, capture_output=True, cwd=work)
    (wheel,) = wheels.glob("abusewatch-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (purelib / "test-venv-packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps", str(wheel)],
                   check=True, capture_output=True, cwd=work)
    return venv / "bin"


def run_installed(bin_dir: Path, cwd: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run([str(bin_dir / "python"), *args], capture_output=True, text=True, cwd=cwd,
                          env=env or clean_env(), timeout=120)


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def test_the_installed_package_is_the_wheel_and_carries_its_data(installed, tmp_path):
    probe = (
        "import abusewatch, abusewatch.ingest.contract as c, abusewatch.services.serve as s, abusewatch.common.resources as r; "
        "import abusewatch.contract as old; assert old is c; "
        "print(abusewatch.__file__); print(s.__file__); print(c.SCHEMA_DIR); print(r.model_dir()); "
        "print(r.shipped_or_local('policy/default.yaml'))"
    )
    result = run_installed(installed, tmp_path, "-c", probe)
    assert result.returncode == 0, result.stderr
    site = installed.parent / "lib"
    paths = [Path(line) for line in result.stdout.split()]
    assert all(site in path.parents for path in paths), result.stdout
    assert all(ROOT not in path.parents for path in paths), result.stdout


def test_every_role_of_the_installed_wheel_reaches_readiness(installed, broker, tmp_path):
    env = clean_env(**stack_env(broker, tmp_path))
    create_topics(config.load(KafkaSettings, env=env))
    processes, logs = {}, {}
    try:
        for role in ROLES:
            logs[role] = tmp_path / f"{role}.log"
            with open(logs[role], "wb") as log:
                processes[role] = subprocess.Popen([str(installed / "abusewatch"), "serve", role], cwd=tmp_path,
                                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        pending = set(ROLES)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while pending:
            for role in sorted(pending):
                assert processes[role].poll() is None, f"{role} exited:\n{logs[role].read_text()[-3000:]}"
                port = env[f"ABUSEWATCH_{role.upper()}_PORT"]
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                        if response.status == 200:
                            pending.discard(role)
                except OSError:
                    pass
            assert time.monotonic() < deadline, f"not ready within {READY_TIMEOUT_S} s: {sorted(pending)}"
            time.sleep(0.5)
        # The console's templates and script are package data: served from the wheel.
        api = f"http://127.0.0.1:{env['ABUSEWATCH_API_PORT']}"
        for path, expected in (("/console/login", b'id="sign-in"'), ("/console/static/console.js", b"EventSource")):
            with urllib.request.urlopen(api + path, timeout=5) as response:
                assert response.status == 200 and expected in response.read(), path
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_installed_wheel_refuses_to_start_without_its_schemas(installed, tmp_path):
    env = clean_env(ABUSEWATCH_SCHEMA_DIR=str(tmp_path / "nowhere"), ABUSEWATCH_LOG_FORMAT="text")
    result = subprocess.run([str(installed / "abusewatch"), "serve", "classifier"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 1
    assert "ABUSEWATCH_SCHEMA_DIR" in result.stderr and str(tmp_path / "nowhere" / "posts.v1.json") in result.stderr
    assert "Traceback" not in result.stderr

"""Sweeps on Ray: a local Ray, a head started with ``ray start`` on 127.0.0.1, and the
errors (no Ray installed, an address nothing answers at)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.sweep.ray_backend import _import_ray, check_reachable

ROOT = Path(__file__).resolve().parent.parent
SMA = ROOT / "strategies" / "sma_crossover.lua"
RAY = Path(sys.executable).with_name("ray")
ARGS = ["--strategy", str(SMA), "--bars", "800", "--grid", "fast=5,10", "--grid", "slow=20,30"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_env() -> Iterator[dict[str, str]]:
    """The environment of a Ray process: a short temporary directory of its own (Ray's
    socket paths must stay under 108 characters), token authentication off (a
    loopback test cluster) and every socket on loopback."""
    tmp = tempfile.mkdtemp(prefix="ray")
    # Ray takes the machine's outward address even when told 127.0.0.1; with clusters
    # "disabled" (its setting for laptops) it keeps every socket on loopback.
    yield {**os.environ, "PYTHONPATH": str(ROOT), "RAY_TMPDIR": tmp, "RAY_AUTH_MODE": "disabled",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    shutil.rmtree(tmp, ignore_errors=True)


def _sweep(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    out = subprocess.run([sys.executable, "-m", "engine", "sweep", *args, "--json"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    return out.returncode, json.loads(lines[-1]) if lines else {}, out.stderr


def _reference(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> list[dict[str, Any]]:
    assert main(["sweep", *ARGS, "--jobs", "1", "--journal", str(tmp_path / "ref.sqlite"),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return [{k: v for k, v in r.items() if k != "run_id"} for r in res["runs"]]


def test_a_sweep_through_a_ray_head_started_on_loopback(
    ray_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    start = [str(RAY), "start", "--head", "--port", str(port), "--node-ip-address",
             "127.0.0.1", "--num-cpus", "2", "--include-dashboard=false",
             "--disable-usage-stats"]
    subprocess.run(start, env=ray_env, capture_output=True, check=True, timeout=60)
    try:
        code, res, err = _sweep(ray_env, *ARGS, "--ray", f"127.0.0.1:{port}",
                                "--journal", str(tmp_path / "j.sqlite"))
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=ray_env, capture_output=True,
                       timeout=60, check=False)
    assert code == 0, err[-2000:]
    assert res["ran"] == 4
    runs = [{k: v for k, v in r.items() if k != "run_id"} for r in res["runs"]]
    assert runs == _reference(capsys, tmp_path)  # bit-identical to local processes


def test_a_local_ray(ray_env: dict[str, str], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    code, res, err = _sweep(ray_env, *ARGS, "--ray", "--journal", str(tmp_path / "j.sqlite"))
    assert code == 0, err[-2000:]
    runs = [{k: v for k, v in r.items() if k != "run_id"} for r in res["runs"]]
    assert runs == _reference(capsys, tmp_path)


def test_an_unreachable_address_names_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    code = main(["sweep", *ARGS, "--ray", address, "--journal", str(tmp_path / "j.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and f"--ray {address}: cannot reach a Ray cluster there" in err
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        check_reachable("127.0.0.1:port")


def test_without_ray_installed_it_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r"Ray is not installed; install it with pip install"):
        _import_ray()

"""The benchmark harness (bench/) still runs: a very short 1:1 scenario against Hubbub on a
database of its own, and one against a peer through the command line, whose output must
parse and hold the fields BENCHMARKS.md is built from. No timing is asserted: numbers on a
shared test machine mean nothing; that the harness works end to end does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("picows", reason="the load generator needs picows (pip install -e '.[bench]')")
pytest.importorskip("uvloop", reason="the load generator runs on uvloop")

REPO = Path(__file__).resolve().parent.parent
LATENCY_FIELDS = {"count", "p50", "p90", "p99", "max", "mean"}


def _check_direct(result: dict, target: str) -> None:
    assert result["scenario"] == "direct"
    assert result["target"] == target
    assert result["command"].startswith("python -m bench.scenarios.direct ")
    assert result["sockets"]["opened"] == result["sockets"]["wanted"] == 4
    assert set(result["latency_ms"]) == LATENCY_FIELDS
    assert set(result["reply_latency_ms"]) == LATENCY_FIELDS
    assert result["msgs_per_s"] >= 0 and result["deliveries_per_s"] >= 0
    # Every reply inside the window was a success: the frames the load sends are the protocol's.
    assert result["reply_codes"], "no message was answered inside the window"
    assert set(result["reply_codes"]) <= {"201"}, result["reply_codes"]
    assert result["latency_ms"]["count"] > 0
    for key in ("server_cpu_s", "server_cpu_util", "db_cpu_s", "server_rss_kib", "loadgen_cpu_s", "server_us_per_msg"):
        assert key in result["cpu"]


@pytest.mark.mysql
def test_direct_scenario_against_hubbub_in_process():
    from bench import report
    from bench.scenarios import direct

    result = direct.run("hubbub", pairs=2, duration=1.5, warmup=0.5, workers=1, grace=2.0)
    _check_direct(result, "hubbub")
    assert result["server"]["exit_code"] in (0, -2, 130), result["server"]  # stopped by SIGINT, cleanly

    # The report renders from such a result.
    doc = {"started": "now", "seconds": 1.0, "quick": True, "command": "test", "revision": "test",
           "machine": {"nproc": 2, "cpu_model": "x", "ram_gib": 1.0, "kernel": "k", "os": "o", "loadavg": (0.0, 0.0, 0.0), "nofile_limit": (1024, 1024)},
           "versions": {"python": "3"}, "sizes": {}, "results": [result]}
    text = report.render(doc)
    assert "## (a) 1:1 messages, closed loop" in text
    assert "`hubbub`" in text


def test_direct_scenario_command_line_against_peer(tmp_path):
    out = tmp_path / "direct.json"
    argv = [sys.executable, "-m", "bench.scenarios.direct", "--target", "aiohttp-relay", "--pairs", "2", "--duration", "1",
            "--warmup", "0.3", "--workers", "1", "--grace", "1", "--json", str(out)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout)
    assert printed == json.loads(out.read_text())
    _check_direct(printed, "aiohttp-relay")

"""`python -m abusewatch.api.bench`: the HTTP API under N concurrent clients, with and without shedding.

For each variant it starts `abusewatch serve api` (the shipped model behind the real engine, its own
process, a free loopback port, a throw-away SQLite locker) and runs the same closed loop against it
from this process: --clients clients start at once, each sending --requests Perspective requests
one after another (a TweetEval tweet each, TOXICITY and THREAT), and after a 429/503/504 waiting the
Retry-After the API asked for (--no-backoff: resend at once). Variants:

  unbounded   ABUSEWATCH_API_MAX_IN_FLIGHT and ABUSEWATCH_API_REQUEST_TIMEOUT_S so large that nothing
              is shed or timed out: how the API behaved before load shedding
  defaults    the shipped settings (or those of the environment)
  in_flight=N the defaults with ABUSEWATCH_API_MAX_IN_FLIGHT=N (a bound sized for this machine)

Per variant: p50 / p99 / max latency of accepted (200) requests, the share shed (429/503), timeouts
(504), accepted requests/s. Each server is warmed up first (untimed). Client and server share the
machine's cores: quote ratios between the variants of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from abusewatch.broker import free_port
from abusewatch.inference.loadgen import ClosedLoopResult, measure_closed_loop

log = logging.getLogger(__name__)

ANALYZE = "/v1alpha1/comments:analyze"
BENCH_POSTS = Path("tweeteval_offensive") / "val_text.txt"
# The API as it was before load shedding: no bound a benchmark can reach, no timeout.
UNBOUNDED = {"ABUSEWATCH_API_MAX_IN_FLIGHT": str(10**9), "ABUSEWATCH_API_REQUEST_TIMEOUT_S": str(10**6)}
VARIANTS: dict[str, dict[str, str]] = {"unbounded": UNBOUNDED, "defaults": {}}
WARMUP_CLIENTS = 16
WARMUP_REQUESTS = 8
READY_TIMEOUT_S = 300.0
CLIENT_TIMEOUT_S = 600.0  # far above any server-side bound: a hung request shows as latency


class ApiServer:
    """`abusewatch serve api` in a child process, stopped (SIGTERM) on exit."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.token = secrets.token_urlsafe(16)
        self.port = free_port()
        self.log_path = workdir / "api.log"
        self.env = {
            **os.environ,
            "ABUSEWATCH_API_TOKEN": self.token,
            "ABUSEWATCH_API_PORT": str(self.port),
            "ABUSEWATCH_HTTP_HOST": "127.0.0.1",
            "ABUSEWATCH_DATA_DIR": str(workdir),
            "ABUSEWATCH_EVIDENCE_DSN": f"sqlite:///{workdir / 'evidence.sqlite3'}",
            **env,
        }
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ApiServer:
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "abusewatch.cli", "serve", "api"], env=self.env, stdout=log_file, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"the API did not become ready; its log ends:\n{tail}")
            time.sleep(0.5)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def closed_loop(server: ApiServer, texts: list[str], clients: int, requests: int, backoff: bool) -> ClosedLoopResult:
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    bodies = [
        orjson.dumps({"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}, "THREAT": {}}})
        for text in texts
        if text.strip()
    ]
    connector = aiohttp.TCPConnector(limit=0)  # one connection per client, as separate users would have
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    async with aiohttp.ClientSession(server.url, connector=connector, headers=headers, timeout=timeout) as session:

        async def call(index: int) -> tuple[str, float]:
            try:
                async with session.post(ANALYZE, data=bodies[index % len(bodies)]) as response:
                    await response.read()
                    pause = float(response.headers.get("Retry-After", 0)) if backoff else 0.0
                    return str(response.status), pause
            except (aiohttp.ClientError, TimeoutError) as exc:
                return f"error:{type(exc).__name__}", 0.0

        await measure_closed_loop(call, WARMUP_CLIENTS, WARMUP_REQUESTS)
        return await measure_closed_loop(call, clients, requests)


def summarize(result: ClosedLoopResult) -> dict[str, Any]:
    accepted = result.outcomes.get("200")
    shed = sum(result.share(status) for status in ("429", "503"))
    return {
        "clients": result.clients,
        "requests": result.requests,
        "elapsed_s": round(result.elapsed_s, 2),
        "accepted_p50_ms": round(accepted.p50_ms, 1) if accepted else None,
        "accepted_p99_ms": round(accepted.p99_ms, 1) if accepted else None,
        "accepted_max_ms": round(accepted.max_ms, 1) if accepted else None,
        "accepted_per_s": round(result.rate("200"), 1),
        "share_shed": round(shed, 4),
        "timeouts_504": result.outcomes["504"].count if "504" in result.outcomes else 0,
        "outcomes": {outcome: asdict(stats) for outcome, stats in result.outcomes.items()},
    }


def variant_env(name: str) -> dict[str, str]:
    """The server's environment overrides for a variant name; ValueError for an unknown one."""
    if name in VARIANTS:
        return VARIANTS[name]
    key, _, value = name.partition("=")
    if key == "in_flight" and value.isdigit() and int(value) > 0:
        return {"ABUSEWATCH_API_MAX_IN_FLIGHT": value}
    raise ValueError(f"unknown variant {name!r}: use {', '.join(VARIANTS)} or in_flight=N")


def run_api_benchmark(texts: list[str], clients: int, requests: int, backoff: bool, variants: list[str]) -> dict[str, Any]:
    report: dict[str, Any] = {"clients": clients, "requests_per_client": requests, "backoff": backoff, "variants": {}}
    for name in variants:
        with tempfile.TemporaryDirectory(prefix="abusewatch-api-bench-") as workdir:
            with ApiServer(variant_env(name), Path(workdir)) as server:
                log.info("variant %s: %d clients x %d requests", name, clients, requests)
                result = asyncio.run(closed_loop(server, texts, clients, requests, backoff))
        report["variants"][name] = summarize(result)
    return report


def print_report(report: dict[str, Any]) -> None:
    print(f"{report['clients']} clients x {report['requests_per_client']} requests, backoff {report['backoff']}")
    print(f"{'variant':<10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'shed':>7} {'504s':>5} {'ok/s':>7} {'elapsed s':>9}")
    for name, row in report["variants"].items():
        print(
            f"{name:<10} {row['accepted_p50_ms'] or 0:>8.0f} {row['accepted_p99_ms'] or 0:>8.0f} "
            f"{row['accepted_max_ms'] or 0:>8.0f} {row['share_shed']:>7.1%} {row['timeouts_504']:>5} "
            f"{row['accepted_per_s']:>7.1f} {row['elapsed_s']:>9.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m abusewatch.api.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=5, help="requests per client, one after another")
    parser.add_argument("--no-backoff", action="store_true", help="resend at once after a 429/503 (ignore Retry-After)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}, in_flight=N"
    )
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.datasets_dir is None:
        from abusewatch.model.data import default_datasets_dir

        args.datasets_dir = default_datasets_dir()
    texts = (args.datasets_dir / BENCH_POSTS).read_text(encoding="utf-8").splitlines()
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    for name in variants:
        try:
            variant_env(name)
        except ValueError as exc:
            parser.error(str(exc))
    report = run_api_benchmark(texts, args.clients, args.requests, not args.no_backoff, variants)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m abusewatch.offline.bench.api`: the HTTP API under N concurrent clients, with and without shedding.

For each variant it starts `abusewatch serve api` (the shipped model behind the real engine, its own
process, a free loopback port, a throw-away SQLite locker) and runs the same closed loop against it
from this process: --clients clients start at once, each sending Perspective requests one after
another for --seconds (a TweetEval tweet each, TOXICITY and THREAT). After a 429/503/504 a client
waits the Retry-After the API asked for plus a random jitter of up to as long again, as well-behaved
clients do so that retries do not arrive in waves (--no-backoff: resend at once). Variants:

  unbounded   ABUSEWATCH_API_MAX_IN_FLIGHT and ABUSEWATCH_API_REQUEST_TIMEOUT_S so large that nothing
              is shed or timed out: how the API behaved before load shedding
  defaults    the shipped settings (or those of the environment)
  in_flight=N[+retry_after=S]  the defaults with ABUSEWATCH_API_MAX_IN_FLIGHT=N (a bound sized
              for this machine) and ABUSEWATCH_API_RETRY_AFTER_S=S

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
import random
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

from abusewatch.devstack.broker import free_port
from abusewatch.offline.bench.loadgen import ClosedLoopResult, measure_closed_loop

log = logging.getLogger(__name__)

ANALYZE = "/v1alpha1/comments:analyze"
BENCH_POSTS = Path("tweeteval_offensive") / "val_text.txt"
# The API as it was before load shedding: no bound a benchmark can reach, no timeout.
UNBOUNDED = {"ABUSEWATCH_API_MAX_IN_FLIGHT": str(10**9), "ABUSEWATCH_API_REQUEST_TIMEOUT_S": str(10**6)}
VARIANTS: dict[str, dict[str, str]] = {"unbounded": UNBOUNDED, "defaults": {}}
WARMUP_CLIENTS = 16
WARMUP_SECONDS = 5.0
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
                [sys.executable, "-m", "abusewatch.cli.main", "serve", "api"], env=self.env, stdout=log_file, stderr=subprocess.STDOUT
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


async def closed_loop(server: ApiServer, texts: list[str], clients: int, seconds: float, backoff: bool) -> ClosedLoopResult:
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    bodies = [
        orjson.dumps({"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}, "THREAT": {}}})
        for text in texts
        if text.strip()
    ]
    jitter = random.Random(0)
    connector = aiohttp.TCPConnector(limit=0)  # one connection per client, as separate users would have
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    async with aiohttp.ClientSession(server.url, connector=connector, headers=headers, timeout=timeout) as session:

        async def call(index: int) -> tuple[str, float]:
            try:
                async with session.post(ANALYZE, data=bodies[index % len(bodies)]) as response:
                    await response.read()
                    retry_after = float(response.headers.get("Retry-After", 0)) if backoff else 0.0
                    return str(response.status), retry_after * (1 + jitter.random())
            except (aiohttp.ClientError, TimeoutError) as exc:
                return f"error:{type(exc).__name__}", 0.0

        await measure_closed_loop(call, WARMUP_CLIENTS, WARMUP_SECONDS)
        return await measure_closed_loop(call, clients, seconds)


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


# Variant parts KEY=N (joined with "+") -> the setting they override.
VARIANT_SETTINGS = {"in_flight": "ABUSEWATCH_API_MAX_IN_FLIGHT", "retry_after": "ABUSEWATCH_API_RETRY_AFTER_S"}


def variant_env(name: str) -> dict[str, str]:
    """The server's environment overrides for a variant name; ValueError for an unknown one."""
    if name in VARIANTS:
        return VARIANTS[name]
    env = {}
    for part in name.split("+"):
        key, _, value = part.partition("=")
        if key not in VARIANT_SETTINGS or not value.isdigit() or int(value) < 1:
            raise ValueError(f"unknown variant {name!r}: use {', '.join(VARIANTS)} or in_flight=N[+retry_after=S]")
        env[VARIANT_SETTINGS[key]] = value
    return env


def run_api_benchmark(texts: list[str], clients: int, seconds: float, backoff: bool, variants: list[str]) -> dict[str, Any]:
    report: dict[str, Any] = {"clients": clients, "seconds": seconds, "backoff": backoff, "variants": {}}
    for name in variants:
        with tempfile.TemporaryDirectory(prefix="abusewatch-api-bench-") as workdir:
            with ApiServer(variant_env(name), Path(workdir)) as server:
                log.info("variant %s: %d clients for %g s", name, clients, seconds)
                result = asyncio.run(closed_loop(server, texts, clients, seconds, backoff))
        report["variants"][name] = summarize(result)
    return report


def print_report(report: dict[str, Any]) -> None:
    print(f"{report['clients']} clients for {report['seconds']:g} s, backoff {report['backoff']}")
    print(f"{'variant':<12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'shed':>7} {'504s':>5} {'ok/s':>7} {'elapsed s':>9}")
    for name, row in report["variants"].items():
        print(
            f"{name:<12} {row['accepted_p50_ms'] or 0:>8.0f} {row['accepted_p99_ms'] or 0:>8.0f} "
            f"{row['accepted_max_ms'] or 0:>8.0f} {row['share_shed']:>7.1%} {row['timeouts_504']:>5} "
            f"{row['accepted_per_s']:>7.1f} {row['elapsed_s']:>9.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m abusewatch.offline.bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each client keeps sending")
    parser.add_argument("--no-backoff", action="store_true", help="resend at once after a 429/503 (ignore Retry-After)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}, in_flight=N[+retry_after=S]"
    )
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.datasets_dir is None:
        from abusewatch.offline.data import default_datasets_dir

        args.datasets_dir = default_datasets_dir()
    texts = (args.datasets_dir / BENCH_POSTS).read_text(encoding="utf-8").splitlines()
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    for name in variants:
        try:
            variant_env(name)
        except ValueError as exc:
            parser.error(str(exc))
    report = run_api_benchmark(texts, args.clients, args.seconds, not args.no_backoff, variants)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

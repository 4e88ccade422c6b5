"""`abusewatch bench`: the inference engine against a naive one-post-at-a-time baseline, one process.

On the same tweets (TweetEval offensive validation texts) it measures, per variant:
  throughput   posts/s scoring every post in one call (the engine batches them), and its ratio
               to the naive baseline: the plain fp32 network, tokenizing and scoring one post at
               a time, as a simple service would
  latency      p50/p99 per post at a steady open-loop offered load, measured from each post's
               scheduled arrival: Poisson arrivals at --load x the fp32 engine's throughput for
               every engine variant (the same load for all), at --load x its own for the naive one
  memory       peak RSS of the process while the variant ran (VmHWM, reset per variant)
  accuracy     max abs score difference to the fp32 engine over all labels, and macro-F1 on the
               offensive label (toxicity >= 0.5, as `abusewatch eval`) where the labels are known
Variants: the engine at its defaults, then each option toggled (fp32 on PyTorch, fp32 on ONNX Runtime,
bf16, int8, cascade, torch.compile, and the cascade with torch.compile); a variant this machine cannot
run (bf16 without native bf16) is skipped, named.
`--tune-cascade` instead re-tunes the cascade's per-label skip thresholds on dev and reports what the
shipped and the re-tuned ones skip and lose (abusewatch.offline.first_pass.tune_report); `--stream`
benchmarks realistic, mostly benign traffic (abusewatch.offline.bench.stream), and with `--pipeline`
sends that stream through the classifier service with the cascade on.
Machines are shared and noisy: compare variants within one run, as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from abusewatch.common.config import load
from abusewatch.offline.bench.common import Contender, NaiveScorer, as_matrix, command_line, machine_description, timed_run
from abusewatch.offline.bench.loadgen import LatencyResult, measure_open_loop
from abusewatch.scoring.inference.settings import EngineSettings

log = logging.getLogger(__name__)

# Option toggles benchmarked against the defaults; each is a set of EngineSettings overrides.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "fp32": {"dtype": "fp32", "cpu_runtime": "torch"},
    "onnxruntime": {"dtype": "fp32", "cpu_runtime": "onnxruntime"},
    "bf16": {"dtype": "bf16"},
    "int8": {"dtype": "int8"},
    "cascade": {"cascade": True},
    "compiled": {"cpu_runtime": "torch-compile"},
    "cascade-compiled": {"cascade": True, "cpu_runtime": "torch-compile"},
}
BENCH_POSTS_SET = "tweeteval_offensive"
BENCH_LABEL = "toxicity"
DECISION_PROBABILITY = 0.5  # as `abusewatch eval` decides for its macro-F1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = load(EngineSettings)
    parser.add_argument("--model-dir", default=defaults.model_dir, help="model artifact directory")
    parser.add_argument("--datasets-dir", type=Path, default=None, help="default: ABUSEWATCH_DATASETS_DIR")
    parser.add_argument("--posts", type=int, default=0, help="posts per throughput run (0: all 1,324)")
    parser.add_argument("--naive-posts", type=int, default=200, help="posts for the naive baseline's throughput")
    parser.add_argument("--latency-seconds", type=float, default=8.0, help="open-loop run per variant")
    parser.add_argument("--load", type=float, default=0.5, help="offered load as a share of throughput (see above)")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per variant; the median is reported")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--quick", action="store_true", help="400 posts, 60 naive posts, 1 repeat, 3 s latency runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--tune-cascade", action="store_true", help="re-tune the cascade's skip thresholds on dev and report")
    parser.add_argument("--max-lost-share", type=float, default=0.01,
                        help="--tune-cascade: most of a label's transformer flags allowed to skip (threat: none)")
    parser.add_argument("--stream", action="store_true",
                        help="realistic traffic at --stream-rates abusive, transformer alone vs cascade (bench/stream.py)")
    parser.add_argument("--stream-rates", default="0.05,0.01,0.2", help="--stream: comma list of abusive base rates")
    parser.add_argument("--stream-posts", type=int, default=4000, help="--stream: posts per stream")
    parser.add_argument("--student-dir", default="",
                        help="--stream: also a smaller model artifact (e.g. a distilled student), alone and with the "
                        "cascade, measured against the transformer alone on the same posts")
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="benchmark through an embedded broker and the classifier service (abusewatch.offline.bench.pipeline)",
    )
    parser.add_argument("--pipeline-backlog", type=int, default=4000, help="--pipeline: posts produced at once")
    parser.add_argument("--pipeline-rate", type=float, default=100.0, help="--pipeline: steady offered posts/s")
    parser.add_argument("--pipeline-seconds", type=float, default=20.0, help="--pipeline: steady run length")


@dataclass
class VariantResult:
    name: str
    device: str
    dtype: str
    runtime: str
    cascade: bool
    posts_per_s: float
    ratio_to_naive: float
    latency: LatencyResult
    peak_rss_mib: float
    max_abs_diff_to_fp32: float | None
    macro_f1: float | None
    transformer_share: float


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def datasets_dir(args: argparse.Namespace) -> Path:
    if args.datasets_dir is not None:
        return args.datasets_dir
    from abusewatch.offline.data import default_datasets_dir

    return default_datasets_dir()


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next reading covers only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        log.warning("cannot reset peak RSS; figures are the process's peak so far")


def proc_status_mib(field: str) -> float | None:
    """A memory line of /proc/self/status (VmRSS, VmHWM, ...) in MiB; None where there is none."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def peak_rss_mib() -> float:
    peak = proc_status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def macro_f1(probabilities: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(labels > 0, probabilities >= DECISION_PROBABILITY, average="macro"))


def current_rss_mib() -> float:
    current = proc_status_mib("VmRSS")
    return current if current is not None else float("nan")


async def measure_all(
    args: argparse.Namespace, artifact: Any, base: EngineSettings, texts: list[str], naive_texts: list[str], names: list[str]
):
    """Build and time each contender once (with its memory), then the remaining throughput runs
    round-robin so the shared machine's load spreads evenly over them, then latency one by one."""
    from prometheus_client import CollectorRegistry

    from abusewatch.scoring.inference.engine import InferenceEngine

    loop = asyncio.get_running_loop()
    naive_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="naive")
    scorer = NaiveScorer(artifact)

    async def naive_score(batch: list[str]) -> np.ndarray:
        return await loop.run_in_executor(naive_worker, scorer.score, list(batch))

    naive = Contender("naive", naive_score)
    engines: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    contenders = [naive]
    for name in names:
        rss_before = current_rss_mib()
        reset_peak_rss()
        if name == "naive":
            await naive_score(naive_texts[:2])  # warm-up
            await timed_run(naive, naive_texts)
        else:
            registry = CollectorRegistry()
            try:
                engine = InferenceEngine.from_artifact(artifact, replace(base, **VARIANTS[name]), registry)
            except ValueError as exc:  # e.g. bf16 on a CPU without native bf16
                log.warning("variant %s skipped: %s", name, exc)
                skipped[name] = str(exc)
                continue
            await engine.start()
            await engine.score(texts[: len(texts) // 10 + 1])  # warm-up
            engines[name] = engine
            contenders.append(Contender(name, engine.score, registry=registry))
            await timed_run(contenders[-1], texts)
        current = naive if name == "naive" else contenders[-1]
        current.peak_rss_mib = peak_rss_mib()
        current.added_rss_mib = current.peak_rss_mib - rss_before
        log.info("%s: %.1f posts/s on the first run", name, current.rates[-1])
    for _ in range(args.repeats - 1):
        for contender in contenders:
            await timed_run(contender, naive_texts if contender is naive else texts)
    latencies: dict[str, LatencyResult] = {}
    naive_rate = float(np.median(naive.rates))
    latencies["naive"] = await measure_open_loop(naive_score, naive_texts, args.load * naive_rate, args.latency_seconds)
    # Every engine variant gets the same offered load: a share of the fp32 engine's throughput.
    engine_load = args.load * float(np.median(contenders[1].rates))
    for contender in contenders[1:]:
        latencies[contender.name] = await measure_open_loop(contender.score, texts, engine_load, args.latency_seconds)
    for engine in engines.values():
        await engine.stop()
    naive_worker.shutdown()
    return contenders, engines, latencies, skipped


def mean_padding_efficiency(registry: Any) -> float | None:
    """Real tokens / padded tokens, averaged over every batch the engine ran (throughput and latency runs)."""
    batches = registry.get_sample_value("abusewatch_inference_padding_efficiency_count")
    total = registry.get_sample_value("abusewatch_inference_padding_efficiency_sum")
    return total / batches if batches else None


def run_benchmark(args: argparse.Namespace, artifact: Any) -> dict[str, Any]:
    folder = datasets_dir(args) / BENCH_POSTS_SET
    texts = read_lines(folder / "val_text.txt")
    gold = np.array([int(label) for label in read_lines(folder / "val_labels.txt")])
    if args.posts:
        texts, gold = texts[: args.posts], gold[: args.posts]
    naive_texts = texts[: args.naive_posts]
    label_column = artifact.labels.index(BENCH_LABEL)
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {sorted(unknown)}")
    # fp32 comes first: every other variant's scores are compared with it, and its throughput
    # sets the offered load of the latency runs.
    ordered = ["naive", "fp32"] + [name for name in names if name != "fp32"]
    base = load(EngineSettings, model_dir=args.model_dir)  # each variant overrides some of these
    contenders, engines, latencies, skipped = asyncio.run(measure_all(args, artifact, base, texts, naive_texts, ordered))
    naive, fp32 = contenders[0], contenders[1]
    naive_rate = float(np.median(naive.rates))
    reference = as_matrix(fp32.results, artifact.labels)
    report_naive = {
        "posts_per_s": naive_rate,
        "runs_posts_per_s": naive.rates,
        "latency": asdict(latencies["naive"]),
        "peak_rss_mib": naive.peak_rss_mib,
        "added_rss_mib": naive.added_rss_mib,
        "posts": len(naive_texts),
        "max_abs_diff_to_fp32": float(np.abs(naive.results - reference[: len(naive_texts)]).max()),
    }
    variants = []
    for contender in contenders[1:]:
        if contender.name == "fp32" and "fp32" not in names:
            continue
        engine = engines[contender.name]
        scores = as_matrix(contender.results, artifact.labels)
        went_to_transformer = np.ones(len(texts), dtype=bool)
        if engine.cascade is not None:
            went_to_transformer = engine.cascade.decide(texts).needs_transformer
        diff = np.abs(scores - reference)[went_to_transformer]
        rate = float(np.median(contender.rates))
        variants.append(
            {
                **asdict(
                    VariantResult(
                        name=contender.name,
                        device=engine.device,
                        dtype=engine.dtype,
                        runtime=engine.runtime,
                        cascade=engine.cascade is not None,
                        posts_per_s=rate,
                        ratio_to_naive=rate / naive_rate,
                        latency=latencies[contender.name],
                        peak_rss_mib=contender.peak_rss_mib,
                        max_abs_diff_to_fp32=float(diff.max()) if diff.size else None,
                        macro_f1=macro_f1(scores[:, label_column], gold),
                        transformer_share=float(went_to_transformer.mean()),
                    )
                ),
                "added_rss_mib": contender.added_rss_mib,
                "runs_posts_per_s": contender.rates,
                "mean_padding_efficiency": mean_padding_efficiency(contender.registry),
            }
        )
    return {
        "machine": machine_description(),
        "command": command_line(),
        "model": {"name": artifact.name, "version": artifact.version},
        "posts": len(texts),
        "repeats": args.repeats,
        "defaults": asdict(base),
        "naive": report_naive,
        "variants": variants,
        "skipped_variants": skipped,
    }


def print_report(report: dict[str, Any]) -> None:
    naive = report["naive"]
    print(f"machine: {report['machine']}")
    print(f"model: {report['model']['name']} {report['model']['version']}; {report['posts']} TweetEval offensive val posts")
    header = f"{'variant':<16} {'device':<7} {'dtype':<5} {'runtime':<21} {'posts/s':>8} {'x naive':>8} {'p50 ms':>7} {'p99 ms':>7} {'@ rate':>7} {'RSS MiB':>8} {'+MiB':>5} {'max|d|':>7} {'F1':>6} {'to TF':>6} {'pad eff':>7}"
    print(header)
    print("-" * len(header))
    naive_latency = naive["latency"]
    print(
        f"{'naive':<16} {'cpu':<7} {'fp32':<5} {'torch, 1 at a time':<21} {naive['posts_per_s']:>8.1f} {1.0:>8.1f} {naive_latency['p50_ms']:>7.1f} "
        f"{naive_latency['p99_ms']:>7.1f} {naive_latency['offered_rate']:>7.0f} {naive['peak_rss_mib']:>8.0f} {naive['added_rss_mib']:>5.0f} "
        f"{naive.get('max_abs_diff_to_fp32', float('nan')):>7.4f} {'':>6} {1.0:>6.2f}"
    )
    for variant in report["variants"]:
        latency = variant["latency"]
        diff = variant["max_abs_diff_to_fp32"]
        print(
            f"{variant['name']:<16} {variant['device']:<7} {variant['dtype']:<5} {variant['runtime']:<21} {variant['posts_per_s']:>8.1f} "
            f"{variant['ratio_to_naive']:>8.1f} {latency['p50_ms']:>7.1f} {latency['p99_ms']:>7.1f} "
            f"{latency['offered_rate']:>7.0f} {variant['peak_rss_mib']:>8.0f} {variant['added_rss_mib']:>5.0f} {diff if diff is not None else float('nan'):>7.4f} "
            f"{variant['macro_f1'] * 100:>6.1f} {variant['transformer_share']:>6.2f} {variant['mean_padding_efficiency']:>7.2f}"
        )
    for name, reason in report.get("skipped_variants", {}).items():
        print(f"{name:<16} skipped: {reason}")
    print("max|d|: max abs score difference to the fp32 engine (cascade: over posts sent to the transformer);")
    print("F1: macro-F1 on the offensive label; to TF: share of posts the transformer scored;")
    print("pad eff: real / padded tokens, mean over the variant's batches (throughput and latency runs).")
    print("RSS MiB: process peak during the variant's first run; +MiB: over the RSS before it was built.")
    print(f"posts/s: median of {report['repeats']} runs, taken round-robin over the variants.")


def run(args: argparse.Namespace) -> int:
    if args.pipeline:
        from abusewatch.offline.bench.pipeline import run_pipeline_benchmark

        env: dict[str, str] = {}
        if args.stream:
            from abusewatch.offline.bench.stream import stream_posts
            from abusewatch.offline.first_pass import dev_pool, halves

            rate = float(args.stream_rates.split(",")[0])
            texts, _, _ = stream_posts(halves(dev_pool(args.datasets_dir)[1])[1], rate, args.stream_posts)
            env = {"ABUSEWATCH_CASCADE": "true"}
        else:
            texts = read_lines(datasets_dir(args) / BENCH_POSTS_SET / "val_text.txt")
        report = run_pipeline_benchmark(texts, args.pipeline_backlog, args.pipeline_rate, args.pipeline_seconds, env)
        print(json.dumps(report, indent=2))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return 0
    if args.quick:
        args.posts = args.posts or 400
        args.naive_posts = min(args.naive_posts, 60)
        args.latency_seconds = min(args.latency_seconds, 3.0)
        args.repeats = 1
    from abusewatch.scoring.model.artifact import load_artifact

    artifact = load_artifact(args.model_dir)
    if args.tune_cascade:
        from abusewatch.offline.first_pass import print_tune_report, tune_report
        from abusewatch.scoring.inference.cascade import FirstPass

        report = tune_report(artifact, FirstPass(load(EngineSettings).cascade_dir), args.datasets_dir,
                             max_lost_share=args.max_lost_share)
        print_tune_report(report)
    elif args.stream:
        from abusewatch.offline.bench.stream import print_stream_report, run_stream_benchmark

        report = run_stream_benchmark(args, artifact)
        print_stream_report(report)
    else:
        report = run_benchmark(args, artifact)
        print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0

"""`abusewatch bench --stream`: realistic traffic, mostly benign, through the engine with and without the cascade.

The stream mixes the held-out half of the pooled dev splits (`abusewatch.offline.first_pass.halves`:
the half the cascade's skip thresholds were not tuned on) at a base rate of abusive posts (gold
toxicity positive; benign = gold toxicity negative), drawn with a fixed seed, for each rate in
`--stream-rates` (default 5%, 1%, 20%). Per rate, in one process and one run:
  throughput   posts/s scoring the whole stream in one call, median of --repeats runs taken
               round-robin: the naive baseline (fp32, one post at a time, on the first
               --naive-posts posts), the engine at its defaults with the cascade off (the
               transformer alone) and with it on, and ratios to the naive baseline
  latency      p50/p99 at a steady open-loop offered load of --load x each engine's own throughput
  cascade      share of posts sent to the transformer
  quality      per label, each contender against the transformer alone on the same posts: posts
               flagged at the label's operating point (first_pass.operating_points of the
               transformer) by each, flags lost (flagged by the transformer alone, not by the
               contender), extra flags, and macro-F1 against gold at 0.5 where the label's gold is known
With --student-dir, a second artifact (a distilled student, `abusewatch train --student-layers`)
joins as two more contenders, alone and with the cascade.
"""

from __future__ import annotations

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from abusewatch.common.config import load
from abusewatch.offline.bench.loadgen import measure_open_loop
from abusewatch.scoring.inference.settings import EngineSettings

TOXICITY = "toxicity"
STREAM_SEED = 20


def stream_posts(pool: Any, rate: float, count: int, seed: int = STREAM_SEED) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, gold targets, gold mask) of `count` posts with `rate` of them abusive, shuffled.
    Drawn without replacement while the pool lasts, with replacement beyond it."""
    from abusewatch.scoring.labels import LABELS

    column = LABELS.index(TOXICITY)
    known = pool.mask[:, column] > 0
    abusive = np.flatnonzero(known & (pool.targets[:, column] > 0.5))
    benign = np.flatnonzero(known & (pool.targets[:, column] < 0.5))
    rng = np.random.default_rng(seed)
    wanted_abusive = int(round(rate * count))
    rows = np.concatenate([
        rng.choice(abusive, wanted_abusive, replace=wanted_abusive > len(abusive)),
        rng.choice(benign, count - wanted_abusive, replace=count - wanted_abusive > len(benign)),
    ])
    rng.shuffle(rows)
    return [pool.texts[i] for i in rows], pool.targets[rows], pool.mask[rows]


def quality(transformer: np.ndarray, contender: np.ndarray, targets: np.ndarray, mask: np.ndarray,
            labels: tuple[str, ...], points: dict[str, float]) -> list[dict[str, Any]]:
    """Per label: a contender's scores against the transformer alone's on the same posts."""
    from sklearn.metrics import f1_score

    from abusewatch.offline.first_pass import EVAL_DECISION, flags

    alone_flags, contender_flags = flags(transformer, labels, points), flags(contender, labels, points)
    rows = []
    for column, label in enumerate(labels):
        row: dict[str, Any] = {
            "label": label,
            "operating_point": points[label],
            "flagged_transformer_alone": int(alone_flags[:, column].sum()),
            "flagged_by_contender": int(contender_flags[:, column].sum()),
            "lost_flags": int((alone_flags[:, column] & ~contender_flags[:, column]).sum()),
            "extra_flags": int((contender_flags[:, column] & ~alone_flags[:, column]).sum()),
        }
        known = mask[:, column] > 0
        gold = targets[known, column] > 0.5
        if known.sum() >= 20 and gold.any() and not gold.all():
            row["gold_posts"] = int(known.sum())
            row["macro_f1_transformer_alone"] = float(f1_score(gold, transformer[known, column] >= EVAL_DECISION, average="macro"))
            row["macro_f1_contender"] = float(f1_score(gold, contender[known, column] >= EVAL_DECISION, average="macro"))
        rows.append(row)
    return rows


async def measure_rate(args: argparse.Namespace, artifact: Any, student: Any | None, texts: list[str]) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from abusewatch.offline.bench.common import Contender, NaiveScorer, as_matrix, timed_run
    from abusewatch.scoring.inference.engine import InferenceEngine

    loop = asyncio.get_running_loop()
    naive_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="naive")
    scorer = NaiveScorer(artifact)
    naive_texts = texts[: args.naive_posts]

    async def naive_score(batch: list[str]) -> np.ndarray:
        return await loop.run_in_executor(naive_worker, scorer.score, list(batch))

    base = load(EngineSettings, model_dir=args.model_dir)
    engines = {
        "transformer_alone": InferenceEngine.from_artifact(artifact, replace(base, cascade=False), CollectorRegistry()),
        "cascade": InferenceEngine.from_artifact(artifact, replace(base, cascade=True), CollectorRegistry()),
    }
    if student is not None:
        engines["student_alone"] = InferenceEngine.from_artifact(student, replace(base, cascade=False), CollectorRegistry())
        engines["student_cascade"] = InferenceEngine.from_artifact(student, replace(base, cascade=True), CollectorRegistry())
    contenders = [Contender("naive", naive_score)] + [Contender(name, engine.score) for name, engine in engines.items()]
    await naive_score(naive_texts[:2])
    for engine in engines.values():
        await engine.start()
        await engine.score(texts[: len(texts) // 10 + 1])  # warm-up
    for _ in range(args.repeats):
        for contender in contenders:
            await timed_run(contender, naive_texts if contender.name == "naive" else texts)
    latencies = {}
    for contender in contenders:
        rate = args.load * float(np.median(contender.rates))
        latencies[contender.name] = asdict(await measure_open_loop(
            contender.score, naive_texts if contender.name == "naive" else texts, rate, args.latency_seconds))
    sent_on = engines["cascade"].cascade.decide(texts).needs_transformer
    for engine in engines.values():
        await engine.stop()
    naive_worker.shutdown()
    naive_rate = float(np.median(contenders[0].rates))
    throughput = {
        contender.name: {
            "posts_per_s": float(np.median(contender.rates)),
            "runs_posts_per_s": contender.rates,
            "ratio_to_naive": float(np.median(contender.rates)) / naive_rate,
            "latency": latencies[contender.name],
        }
        for contender in contenders
    }
    return {
        "throughput": throughput,
        "transformer_share": float(sent_on.mean()),
        "scores": {name: as_matrix(c.results, artifact.labels) for name, c in zip(engines, contenders[1:])},
    }


def run_stream_benchmark(args: argparse.Namespace, artifact: Any) -> dict[str, Any]:
    from abusewatch.offline.bench.common import command_line, machine_description
    from abusewatch.offline.first_pass import dev_pool, halves, operating_points
    from abusewatch.scoring.inference.cascade import FirstPass
    from abusewatch.scoring.model.artifact import load_artifact

    student = load_artifact(args.student_dir) if args.student_dir else None
    if student is not None and tuple(student.labels) != tuple(artifact.labels):
        raise SystemExit(f"--student-dir labels {student.labels} differ from the model's {artifact.labels}")
    _, pool = dev_pool(args.datasets_dir)
    _, held_out = halves(pool)
    labels = tuple(artifact.labels)
    points = operating_points(artifact)
    first_pass = FirstPass(load(EngineSettings).cascade_dir)
    results = []
    for rate in [float(value) for value in args.stream_rates.split(",")]:
        texts, targets, mask = stream_posts(held_out, rate, args.stream_posts)
        measured = asyncio.run(measure_rate(args, artifact, student, texts))
        scores = measured.pop("scores")
        measured["quality"] = {
            name: quality(scores["transformer_alone"], contender, targets, mask, labels, points)
            for name, contender in scores.items()
            if name != "transformer_alone"
        }
        results.append({"abusive_rate": rate, "posts": len(texts), **measured})
    return {
        "machine": machine_description(),
        "command": command_line(),
        "model": {"name": artifact.name, "version": artifact.version},
        "student": (
            {"name": student.name, "version": student.version, "layers": student.network.encoder.config.num_hidden_layers}
            if student is not None
            else None
        ),
        "first_pass": {**first_pass.info, "skip_below": first_pass.skip_below},
        "held_out_pool_posts": len(held_out.texts),
        "repeats": args.repeats,
        "load": args.load,
        "rates": results,
    }


def print_stream_report(report: dict[str, Any]) -> None:
    print(f"machine: {report['machine']}")
    print(f"model: {report['model']['name']} {report['model']['version']}; first pass {report['first_pass']['name']} "
          f"{report['first_pass']['version']}; stream from {report['held_out_pool_posts']} held-out dev posts")
    if report.get("student"):
        student = report["student"]
        print(f"student: {student['name']} {student['version']} ({student['layers']} layers)")
    for result in report["rates"]:
        print(f"\nabusive rate {result['abusive_rate']:.0%}, {result['posts']} posts; "
              f"cascade sends {result['transformer_share']:.1%} to the transformer")
        print(f"  {'':<18} {'posts/s':>8} {'x naive':>8} {'p50 ms':>7} {'p99 ms':>7} {'@ rate':>7}  runs")
        for name, row in result["throughput"].items():
            latency = row["latency"]
            runs = ", ".join(f"{value:.0f}" for value in row["runs_posts_per_s"])
            print(f"  {name:<18} {row['posts_per_s']:>8.1f} {row['ratio_to_naive']:>8.1f} {latency['p50_ms']:>7.1f} "
                  f"{latency['p99_ms']:>7.1f} {latency['offered_rate']:>7.0f}  {runs}")
        for name, rows in result["quality"].items():
            print(f"  {name + ' vs the transformer alone':<40} {'op pt':>6} {'flagged TF':>10} {'flagged':>8} {'lost':>5} "
                  f"{'extra':>5} {'F1 TF':>6} {'F1':>6}")
            for row in rows:
                f1_alone = f"{row['macro_f1_transformer_alone'] * 100:.1f}" if "macro_f1_transformer_alone" in row else "-"
                f1_contender = f"{row['macro_f1_contender'] * 100:.1f}" if "macro_f1_contender" in row else "-"
                print(f"  {row['label']:<40} {row['operating_point']:>6.3f} {row['flagged_transformer_alone']:>10} "
                      f"{row['flagged_by_contender']:>8} {row['lost_flags']:>5} {row['extra_flags']:>5} {f1_alone:>6} "
                      f"{f1_contender:>6}")

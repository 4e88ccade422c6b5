"""Settings of the inference engine (queue, batcher, backend, cascade), read from the environment."""

from __future__ import annotations

from abusewatch.common.config import setting, settings_class


@settings_class
class EngineSettings:
    """The batched inference engine: where the model runs, how requests are batched, the cascade."""

    model_dir: str = setting(
        "ABUSEWATCH_MODEL_DIR",
        "",
        "Model artifact directory; empty means the shipped models/abusewatch-minilm, wherever the service runs.",
    )
    device: str = setting(
        "ABUSEWATCH_DEVICE",
        "auto",
        "auto (CUDA when available, else CPU), cpu or cuda; an unavailable device falls back to CPU, logged.",
    )
    dtype: str = setting(
        "ABUSEWATCH_DTYPE",
        "auto",
        "auto (CPU: bf16 autocast where the CPU has native bf16, else fp32; CUDA: bf16, else fp16), fp32, "
        "bf16, fp16 (CUDA only) or int8 (CPU dynamic quantization: changes scores, see docs/benchmarks.md).",
    )
    cpu_runtime: str = setting(
        "ABUSEWATCH_CPU_RUNTIME",
        "auto",
        "What runs the network on CPU: auto (ONNX Runtime for fp32 when installed, PyTorch for bf16 and "
        "int8), torch, torch-compile (PyTorch with torch.compile: graphs built at startup, needs a C++ "
        "compiler; fp32 or bf16) or onnxruntime (fp32 only; exported from the loaded weights at startup).",
    )
    cpu_threads: int = setting(
        "ABUSEWATCH_CPU_THREADS", 0, "Intra-op threads of the CPU backend; 0 = the cores this process may use."
    )
    max_batch_tokens: int = setting(
        "ABUSEWATCH_MAX_BATCH_TOKENS",
        2048,
        "Token budget per batch, counting padding (posts in batch x longest post); a longer post runs alone.",
    )
    max_batch_posts: int = setting("ABUSEWATCH_MAX_BATCH_POSTS", 64, "Most posts in one batch.")
    max_wait_ms: float = setting(
        "ABUSEWATCH_MAX_WAIT_MS",
        5.0,
        "How long the oldest queued post may wait for max_batch_posts posts to queue up before the batcher "
        "takes what is queued (when the model is free; under load posts wait for the model instead).",
    )
    sort_window: int = setting(
        "ABUSEWATCH_SORT_WINDOW",
        1024,
        "Most queued posts taken at once and sorted by length before cutting batches (less padding).",
    )
    queue_size: int = setting(
        "ABUSEWATCH_QUEUE_SIZE",
        4096,
        "Most posts admitted and not yet answered; past it score() waits, or raises Overloaded (wait=False).",
    )
    cascade: bool = setting(
        "ABUSEWATCH_CASCADE",
        False,
        "Run the cascade's first pass (a hashed n-gram linear model distilled from the transformer, "
        "models/abusewatch-first-pass): posts it clears on every label, and in which no text rule layer "
        "finds anything, skip the transformer and get the first-pass probabilities as their scores.",
    )
    cascade_dir: str = setting(
        "ABUSEWATCH_CASCADE_DIR",
        "",
        "First-pass model directory (first_pass.json + weights.npz, with per-label skip thresholds tuned "
        "by `abusewatch train-first-pass`); empty means the shipped models/abusewatch-first-pass.",
    )

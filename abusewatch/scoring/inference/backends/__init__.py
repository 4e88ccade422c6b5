"""Backends behind one small interface; `select_backend` picks one from settings, falling back to CPU."""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from abusewatch.scoring.inference.backends.base import Backend
from abusewatch.scoring.inference.backends.cpu import CpuBackend, cpu_supports_bf16
from abusewatch.scoring.inference.settings import EngineSettings

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CPU_RUNTIMES = ("auto", "torch", "torch-compile", "onnxruntime")


def _cpu_dtype(asked: str) -> str:
    if asked == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    if asked == "fp16":
        log.warning("dtype fp16 is CUDA only; the CPU backend runs at fp32")
        return "fp32"
    return asked


def _cuda_dtype(asked: str) -> str:
    if asked == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if asked == "int8":
        raise ValueError("dtype int8 is CPU only (dynamic quantization); use fp16 or bf16 on CUDA")
    return asked


def select_backend(settings: EngineSettings, network: nn.Module, pad_token_id: int) -> Backend:
    """The backend named by `settings.device`; CUDA that is asked for but missing falls back to CPU."""
    if settings.device not in DEVICES:
        raise ValueError(f"ABUSEWATCH_DEVICE must be one of {DEVICES}, got {settings.device!r}")
    if settings.device in ("auto", "cuda") and torch.cuda.is_available():
        from abusewatch.scoring.inference.backends.cuda import CudaBackend

        return CudaBackend(network, _cuda_dtype(settings.dtype), settings.max_batch_tokens, pad_token_id)
    if settings.device == "cuda":
        log.warning("ABUSEWATCH_DEVICE=cuda but CUDA is not available; falling back to CPU")
    threads = settings.cpu_threads or len(os.sched_getaffinity(0))
    dtype = _cpu_dtype(settings.dtype)
    if _use_onnxruntime(settings.cpu_runtime, dtype):
        from abusewatch.scoring.inference.backends.onnx_cpu import OnnxCpuBackend

        return OnnxCpuBackend(network, threads, settings.max_batch_tokens, pad_token_id)
    compiled = settings.cpu_runtime == "torch-compile"
    return CpuBackend(network, dtype, threads, settings.max_batch_tokens, pad_token_id, compiled=compiled)


def _use_onnxruntime(asked: str, dtype: str) -> bool:
    """ONNX Runtime runs the fp32 network only; bf16 and int8 stay on PyTorch."""
    if asked not in CPU_RUNTIMES:
        raise ValueError(f"ABUSEWATCH_CPU_RUNTIME must be one of {CPU_RUNTIMES}, got {asked!r}")
    if asked in ("torch", "torch-compile"):
        return False
    from abusewatch.scoring.inference.backends.onnx_cpu import onnxruntime_available

    if dtype != "fp32":
        if asked == "onnxruntime":
            raise ValueError(f"ABUSEWATCH_CPU_RUNTIME=onnxruntime runs fp32 only, not {dtype}")
        return False
    if not onnxruntime_available():
        if asked == "onnxruntime":
            raise ValueError("ABUSEWATCH_CPU_RUNTIME=onnxruntime but onnxruntime is not installed")
        return False
    return True


__all__ = ["Backend", "CpuBackend", "select_backend"]

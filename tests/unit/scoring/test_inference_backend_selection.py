"""Which CPU runtime runs the network: ONNX Runtime for fp32, PyTorch for bf16 and int8."""

from __future__ import annotations

import pytest

from abusewatch.scoring.inference.backends import _use_onnxruntime


@pytest.mark.parametrize(
    ("asked", "dtype", "expected"),
    [("auto", "fp32", True), ("onnxruntime", "fp32", True), ("torch", "fp32", False),
     ("auto", "bf16", False), ("auto", "int8", False), ("torch", "int8", False), ("torch-compile", "fp32", False)],
)
def test_runtime_choice(asked: str, dtype: str, expected: bool) -> None:
    assert _use_onnxruntime(asked, dtype) is expected


@pytest.mark.parametrize(("asked", "dtype"), [("onnxruntime", "bf16"), ("onnxruntime", "int8"), ("tensorrt", "fp32")])
def test_impossible_runtime_is_a_clear_error(asked: str, dtype: str) -> None:
    with pytest.raises(ValueError, match="ABUSEWATCH_CPU_RUNTIME"):
        _use_onnxruntime(asked, dtype)


def test_torch_compile_refuses_int8() -> None:
    from torch import nn

    from abusewatch.scoring.inference.backends import CpuBackend

    with pytest.raises(ValueError, match="int8"):
        CpuBackend(nn.Linear(2, 2), "int8", threads=1, max_batch_tokens=64, pad_token_id=0, compiled=True)

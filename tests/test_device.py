"""Device resolution (vidcap/device.py)."""
from __future__ import annotations

import pytest
import torch

from vidcap.device import resolve_device
from vidcap.errors import UsageError


def test_named_devices_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(UsageError, match="bad device 'gpu0'"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_without_cuda_the_default_is_the_cpu_and_cuda_is_refused():
    assert resolve_device(None) == torch.device("cpu")
    with pytest.raises(UsageError, match="CUDA is not available here; use the cpu device"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_with_cuda_each_torchrun_process_gets_its_local_rank_gpu(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", str(torch.cuda.device_count() + 1))
    assert resolve_device(None) == torch.device("cuda", 1 % torch.cuda.device_count())

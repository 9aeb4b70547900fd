import pytest
import torch
from transformers import TrainingArguments

from cola_workshop import hardware
from cola_workshop.settings import load_settings


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="checks the CPU-only path")
def test_cpu_precision_follows_profile_and_cpu(tmp_path, monkeypatch):
    full = hardware.precision_arguments(load_settings(environ={}, profile="full"))
    tiny = hardware.precision_arguments(load_settings(environ={}, profile="tiny"))
    assert full == {"use_cpu": True, "bf16": hardware.cpu_bf16_is_faster()}
    assert tiny == {"use_cpu": True, "bf16": False}
    monkeypatch.setattr(hardware, "cpu_bf16_is_faster", lambda: False)
    assert hardware.precision_arguments(load_settings(environ={}, profile="full"))["bf16"] is False
    for arguments in (full, tiny):  # transformers 5 accepts them on this machine
        args = TrainingArguments(output_dir=str(tmp_path), report_to="none", **arguments)
        assert args.bf16 == arguments["bf16"]
        assert hardware.describe_device(arguments).startswith("training on CPU")


@pytest.mark.parametrize(
    "native, fp32_s, bf16_s, expected",
    [
        (True, 0.008, 0.005, True),  # 1.6x is a clear win
        (True, 0.008, 0.0062, True),  # 1.29x: a clear win too
        (True, 0.006, 0.0055, False),  # 1.09x: too close to call, float32 stays
        (True, 0.005, 0.008, False),  # bf16 slower (a 2-core Xeon without AMX exposed)
        (False, 0.008, 0.001, False),  # no native bf16: never timed
    ],
)
def test_a_cpu_computes_in_bf16_only_where_it_measured_a_clear_win(native, fp32_s, bf16_s, expected, monkeypatch):
    timed = []

    def matmul_seconds(dtype):
        timed.append(dtype)
        # the first round only prepares the kernels, so it must not count: here its bf16 product is made to look
        # a thousand times faster, which would turn every case to bf16 if it did
        first = len([d for d in timed if d == dtype]) == 1
        return fp32_s if dtype == torch.float32 else bf16_s / (1000 if first else 1)

    monkeypatch.setattr(hardware, "cpu_supports_bf16", lambda: native)
    monkeypatch.setattr(hardware, "matmul_seconds", matmul_seconds)
    hardware.cpu_bf16_is_faster.cache_clear()
    try:
        assert hardware.cpu_bf16_is_faster() is expected
        assert hardware.cpu_bf16_is_faster() is expected
        assert len(timed) == (8 if native else 0)  # timed once per process, both precisions alternating
        if native:
            assert timed[:2] == [torch.float32, torch.bfloat16]
    finally:
        hardware.cpu_bf16_is_faster.cache_clear()


def test_the_timing_is_a_short_positive_duration_in_both_precisions():
    for dtype in (torch.float32, torch.bfloat16):
        assert 0 < hardware.matmul_seconds(dtype, rows=8) < 5


def test_one_precision_label_for_fields_saved_arguments_and_training_arguments(tmp_path):
    assert hardware.precision_label({"bf16": True, "fp16": False}) == "bf16 autocast"
    assert hardware.precision_label({"fp16": True}) == "fp16"
    assert hardware.precision_label({"use_cpu": True, "bf16": False}) == hardware.precision_label({}) == "fp32"
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, bf16=True)
    assert hardware.precision_label(arguments) == hardware.precision_label(arguments.to_dict()) == "bf16 autocast"
    assert hardware.describe_device({"use_cpu": True, "bf16": True}).endswith(" in bf16 autocast")


def test_cudnn_attention_is_switched_off_on_cuda_only(monkeypatch):
    before = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        torch.backends.cuda.enable_cudnn_sdp(True)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        assert hardware.use_shape_agnostic_attention() is False
        assert torch.backends.cuda.cudnn_sdp_enabled()  # CPUs and Apple GPUs: nothing changes
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        assert hardware.use_shape_agnostic_attention() is True
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        # flash and memory-efficient attention stay available
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)

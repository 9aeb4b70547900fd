import pytest
import torch
from transformers import TrainingArguments

from cola_workshop import hardware
from cola_workshop.settings import load_settings


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="checks the CPU-only path")
def test_cpu_precision_follows_profile_and_cpu(tmp_path, monkeypatch):
    full = hardware.precision_arguments(load_settings(environ={}, profile="full"))
    tiny = hardware.precision_arguments(load_settings(environ={}, profile="tiny"))
    assert full == {"use_cpu": True, "bf16": hardware.cpu_supports_bf16()}
    assert tiny == {"use_cpu": True, "bf16": False}
    monkeypatch.setattr(hardware, "cpu_supports_bf16", lambda: False)
    assert hardware.precision_arguments(load_settings(environ={}, profile="full"))["bf16"] is False
    for arguments in (full, tiny):  # transformers 5 accepts them on this machine
        args = TrainingArguments(output_dir=str(tmp_path), report_to="none", **arguments)
        assert args.bf16 == arguments["bf16"]
        assert hardware.describe_device(arguments).startswith("training on CPU")


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

"""Which kernels and settings make the workshop's arithmetic fastest on this CPU? The same work in each setting.

    .venv/bin/python benchmarks/kernel_choices.py                           # GPT-2 small's size, random weights
    .venv/bin/python benchmarks/kernel_choices.py --model data/tiny-gpt2 --sentences 64 --repeats 1   # a quick look

`train_speed.py --end-to-end` says where the time goes: training, and outside it mostly imports, notebook 01's
zero-shot scoring, notebook 06's passes of the model and its ONNX export. This times that work in one process, so
that the settings compare with each other (the first line names the CPU):

1. matrix products of GPT-2 small's shapes (a batch of 32 sentences of 12 tokens, and a block of the output layer),
   float32 against bfloat16 (where the CPU has native bf16);
2. notebook 01's zero-shot scoring (``lm_scores.sentence_logprobs``) of the first ``--sentences`` sentences of
   CoLA's training split: batches of 32, 64 and 128 in float32, with GPT-2's GELU as one fused kernel, in bf16
   autocast and with the weights cast to bf16 (where the CPU has native bf16; ``--bf16``), with how far each moves
   a sentence's mean log-probability;
3. a training step of the classifier (forward and backward, batches of 32 sentences), with GPT-2's GELU as
   transformers computes it (``gelu_new``, several element-wise steps) and as one fused kernel (``gelu_pytorch_tanh``);
4. notebook 06's ONNX export (the TorchScript exporter, with and without constant folding) and the creation of an
   onnxruntime session at each graph optimization level.

Each time is the best of ``--repeats`` rounds, each round running every setting of a part once, in turn. The model
is GPT-2 small's architecture with random weights (a forward pass costs the same whatever the weights are) and
GPT-2's tokenizer, or ``--model``'s checkpoint, in float32.
"""

from __future__ import annotations

import argparse
import copy
import functools
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "data" / "cola_public"
TINY_CORPUS = REPO_ROOT / "data" / "cola_tiny"
GPT2_TOKENIZER = REPO_ROOT / "data" / "tiny-gpt2"  # the tiny model's folder holds GPT-2's own tokenizer

#: GPT-2 small's matrix products, (rows, inner, columns): attention in, MLP in and MLP out for 384 tokens, and one
#: block of the zero-shot output layer (256 rows, 8,192 of the vocabulary's columns: ``lm_scores._blockwise_logprobs``)
SHAPES = ((384, 768, 2304), (384, 768, 3072), (384, 3072, 768), (256, 768, 8192))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="random", help="'random' (GPT-2 small's architecture) or a GPT-2 folder")
    parser.add_argument("--data", default=str(SHARED_CORPUS if SHARED_CORPUS.is_dir() else TINY_CORPUS),
                        help="CoLA's release folder (default: ../shared's, else the tiny profile's sample)")
    parser.add_argument("--sentences", type=int, default=320, help="training sentences to score (default 320)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each setting, the best kept (default 2)")
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                        help="time the bf16 settings: auto (default) only where the CPU has native bf16 instructions "
                             "(elsewhere bf16 is emulated, many times slower), on or off")
    args = parser.parse_args(argv)
    if args.sentences < 1 or args.repeats < 1:
        parser.error("--sentences and --repeats must be at least 1")
    return args


def native_bf16() -> bool:
    """A GPU, or a CPU with native bf16 instructions: where timing bf16 measures bf16, not its emulation."""
    import torch

    from cola_workshop.hardware import cpu_supports_bf16

    return torch.cuda.is_available() or cpu_supports_bf16()


def round_robin(repeats: int, work: dict) -> dict:
    """``{name: (shortest seconds, last result)}`` of each ``work[name]()``, over ``repeats`` rounds that call every
    one once, in turn, the order reversed every other round: a shared machine that slows down or speeds up mid-run
    then weighs on every setting alike, not on those that happen to run last."""
    best, results = {name: float("inf") for name in work}, {}
    for round_ in range(repeats):
        for name in list(work)[:: -1 if round_ % 2 else 1]:
            started = time.perf_counter()
            results[name] = work[name]()
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: (best[name], results[name]) for name in work}


def matmul_speeds(repeats: int, bf16: bool) -> None:
    import torch

    def products(a, b, times=30):
        for _ in range(times):
            torch.nn.functional.linear(a, b)

    print("\nmatrix products of GPT-2 small's shapes, GFLOP/s")
    for rows, inner, columns in SHAPES:
        work = {}
        for dtype in (torch.float32, torch.bfloat16) if bf16 else (torch.float32,):
            a, b = torch.randn(rows, inner).to(dtype), torch.randn(columns, inner).to(dtype)
            products(a, b, times=1)  # the kernels' first call prepares them
            work[dtype] = functools.partial(products, a, b)
        speed = {dtype: 2 * rows * inner * columns * 30 / seconds / 1e9
                 for dtype, (seconds, _) in round_robin(repeats, work).items()}
        in_bf16 = f", bfloat16 {speed[torch.bfloat16]:.0f}" if bf16 else ""
        print(f"  {rows} x {inner} @ {inner} x {columns}: float32 {speed[torch.float32]:.0f}{in_bf16}")


def load_models(model: str):
    """(tokenizer, causal LM, sequence classifier) in float32 and eval mode."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, GPT2Config

    transformers.logging.set_verbosity_error()  # the classifier's head is new: its load report is not news here
    transformers.logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(GPT2_TOKENIZER if model == "random" else model)
    tokenizer.pad_token = tokenizer.eos_token  # notebook 03's pad-token line
    if model == "random":
        config = GPT2Config(num_labels=2, pad_token_id=tokenizer.eos_token_id)
        lm = AutoModelForCausalLM.from_config(config)
        classifier = AutoModelForSequenceClassification.from_config(config)
    else:
        lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)  # not the checkpoint's own dtype
        classifier = AutoModelForSequenceClassification.from_pretrained(model, num_labels=2, dtype=torch.float32)
        classifier.config.pad_token_id = tokenizer.eos_token_id
    classifier.config.use_cache = False
    return tokenizer, lm.eval(), classifier.eval()


def with_fused_gelu(model):
    """A copy of a GPT-2 model whose tanh GELU is one PyTorch kernel (``gelu_pytorch_tanh``, the same function as
    ``gelu_new``), or None for a model without ``gelu_new``."""
    from transformers.activations import ACT2FN

    if getattr(model.config, "activation_function", None) != "gelu_new":
        return None
    fused = copy.deepcopy(model)
    for block in fused.transformer.h:
        block.mlp.act = ACT2FN["gelu_pytorch_tanh"]
    return fused


def scoring_speeds(lm, tokenizer, sentences: list[str], repeats: int, bf16: bool) -> None:
    import numpy as np
    import torch

    from cola_workshop.lm_scores import sentence_logprobs

    def mean_logprobs(model, batch_size=32, bf16=False):
        scored = sentence_logprobs(model, tokenizer, sentences, batch_size=batch_size, bf16=bf16)
        return np.array([values.mean() if values.size else np.nan for values in scored])

    print(f"\nnotebook 01's zero-shot scoring of {len(sentences)} CoLA training sentences")
    work = {f"float32, batch {size}": functools.partial(mean_logprobs, lm, size) for size in (32, 64, 128)}
    fused_gelu = with_fused_gelu(lm)
    if fused_gelu is not None:
        work["fused GELU, batch 32"] = functools.partial(mean_logprobs, fused_gelu)
    if bf16:
        work["bf16 autocast, batch 32"] = functools.partial(mean_logprobs, lm, bf16=True)
        work["bf16 weights, batch 32"] = functools.partial(mean_logprobs, copy.deepcopy(lm).to(torch.bfloat16))
    timed = round_robin(repeats, work)
    reference = timed["float32, batch 32"][1]
    for name, (seconds, scores) in timed.items():
        moved = np.nanmax(np.abs(scores - reference))
        print(f"  {name:<24} {seconds:6.2f} s  {1000 * seconds / len(sentences):5.1f} ms a sentence"
              f"  (mean log-probabilities within {moved:.4f} of the first row's)")


def training_step_speeds(classifier, tokenizer, sentences: list[str], repeats: int) -> None:
    import torch

    fused = with_fused_gelu(classifier)
    if fused is None:
        return
    batch = tokenizer(sentences[:32], padding=True, return_tensors="pt", return_token_type_ids=False)
    labels = torch.zeros(len(batch["input_ids"]), dtype=torch.long)

    def steps(model, times=3):
        model.train()  # dropout on, as in training
        for _ in range(times):
            model(**batch, labels=labels).loss.backward()
            model.zero_grad(set_to_none=True)

    def loss(model) -> float:  # without dropout, so that the two GELUs can be compared
        with torch.inference_mode():
            return model.eval()(**batch, labels=labels).loss.item()

    models = {"gelu_new": classifier, "fused GELU": fused}
    for model in models.values():
        steps(model, times=1)  # the first step prepares the kernels
    timed = round_robin(repeats, {name: functools.partial(steps, model) for name, model in models.items()})
    print(f"\na training step of the classifier, {len(labels)} sentences (forward and backward)")
    for name, (seconds, _) in timed.items():
        print(f"  {name:<12} {seconds / 3:6.2f} s a step  (loss without dropout {loss(models[name]):.6f})")


def onnx_speeds(classifier, tokenizer, repeats: int) -> None:
    import onnxruntime
    import torch

    from cola_workshop.deployment import quiet

    example = tokenizer(["A sentence to trace the model with.", "Short one."], padding=True, return_tensors="pt",
                        return_token_type_ids=False)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "logits": {0: "batch"}}

    def export(path: Path, folding: bool) -> int:
        with quiet():
            torch.onnx.export(classifier, (), path, kwargs=dict(example), dynamo=False, dynamic_axes=axes,
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              do_constant_folding=folding)
        return path.stat().st_size

    def session(path: Path, level: str):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
        return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    print("\nnotebook 06's ONNX export and onnxruntime session")
    with tempfile.TemporaryDirectory() as folder:  # about 500 MB for GPT-2 small
        path = Path(folder) / "model.onnx"
        export(path, True)  # the first export imports the exporter's modules
        exports = {"on ": functools.partial(export, path, True), "off": functools.partial(export, path, False)}
        for folding, (seconds, size) in round_robin(repeats, exports).items():
            print(f"  export, constant folding {folding} {seconds:6.2f} s  ({size / 1e6:.0f} MB)")
        levels = ("ORT_ENABLE_ALL", "ORT_ENABLE_BASIC", "ORT_DISABLE_ALL")
        sessions = round_robin(repeats, {level: functools.partial(session, path, level) for level in levels})
        for level, (seconds, _) in sessions.items():
            print(f"  session, {level:<17} {seconds:6.2f} s")


def main(argv=None) -> int:
    from train_speed import machine_line  # beside this script

    from cola_workshop.data import cola_files, read_labeled_tsv

    args = parse_args(argv)
    files = cola_files(args.data)
    if files.hub or files.saved:
        sys.exit("give --data a folder of CoLA's release files (tab-separated), not the hub or a saved dataset")
    rows = [row for path in files.labeled["train"] for row in read_labeled_tsv(Path(path))]
    sentences = [row["sentence"] for row in rows[: args.sentences]]
    print(machine_line())
    bf16 = args.bf16 == "on" or (args.bf16 == "auto" and native_bf16())
    if not bf16:
        print("bf16 settings left out: " + ("--bf16 off" if args.bf16 == "off" else "no native bf16 on this CPU"))
    matmul_speeds(args.repeats, bf16)
    tokenizer, lm, classifier = load_models(args.model)
    scoring_speeds(lm, tokenizer, sentences, args.repeats, bf16)
    training_step_speeds(classifier, tokenizer, sentences, args.repeats)
    onnx_speeds(classifier, tokenizer, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

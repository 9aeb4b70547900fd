"""Can the cells that compute outside training go faster on this CPU? The same work in each setting one could pick.

    .venv/bin/python benchmarks/inference_speed.py                          # GPT-2 small's size, random weights
    .venv/bin/python benchmarks/inference_speed.py --model data/tiny-gpt2 --sentences 64 --repeats 1   # a quick look

`train_speed.py --end-to-end` says where the time outside `trainer.train()` goes; most of what is not imports is
notebook 01's zero-shot scoring, notebook 06's passes of the model and its ONNX export. This times that work in one
process, so that the settings compare with each other (the first line names the CPU):

1. matrix products of GPT-2 small's shapes (a batch of 32 sentences of 12 tokens), float32 against bfloat16;
2. notebook 01's zero-shot scoring (``lm_scores.sentence_logprobs``) of the first ``--sentences`` sentences of
   CoLA's training split: batches of 32, 64 and 128 in float32, with GPT-2's GELU as one fused kernel, in bf16
   autocast and with the weights cast to bf16, with how far each moves a sentence's mean log-probability;
3. notebook 06's ONNX export (the TorchScript exporter, with and without constant folding) and the creation of an
   onnxruntime session at each graph optimization level.

Each time is the best of ``--repeats`` runs. The model is GPT-2 small's architecture with random weights (a
forward pass costs the same whatever the weights are) and GPT-2's tokenizer, or ``--model``'s checkpoint.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "data" / "cola_public"
TINY_CORPUS = REPO_ROOT / "data" / "cola_tiny"
GPT2_TOKENIZER = REPO_ROOT / "data" / "tiny-gpt2"  # the tiny model's folder holds GPT-2's own tokenizer

#: GPT-2 small's matrix products for 384 tokens: (rows, inner, columns) of attention in, MLP in, MLP out, output layer
SHAPES = ((384, 768, 2304), (384, 768, 3072), (384, 3072, 768), (256, 768, 8192))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="random", help="'random' (GPT-2 small's architecture) or a GPT-2 folder")
    parser.add_argument("--data", default=str(SHARED_CORPUS if SHARED_CORPUS.is_dir() else TINY_CORPUS),
                        help="CoLA's release folder (default: ../shared's, else the tiny profile's sample)")
    parser.add_argument("--sentences", type=int, default=320, help="training sentences to score (default 320)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each setting, the best kept (default 2)")
    args = parser.parse_args(argv)
    if args.sentences < 1 or args.repeats < 1:
        parser.error("--sentences and --repeats must be at least 1")
    return args


def best_of(repeats: int, work) -> tuple[float, object]:
    """The shortest wall time of ``repeats`` calls of ``work()``, and the last call's result."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def matmul_speeds(repeats: int) -> None:
    import torch

    print("\nmatrix products of GPT-2 small's shapes, GFLOP/s")
    for rows, inner, columns in SHAPES:
        speeds = []
        for dtype in (torch.float32, torch.bfloat16):
            a, b = torch.randn(rows, inner).to(dtype), torch.randn(columns, inner).to(dtype)
            torch.nn.functional.linear(a, b)  # the kernels' first call prepares them
            seconds, _ = best_of(repeats, lambda: [torch.nn.functional.linear(a, b) for _ in range(30)])
            speeds.append(2 * rows * inner * columns * 30 / seconds / 1e9)
        print(f"  {rows} x {inner} @ {inner} x {columns}: float32 {speeds[0]:.0f}, bfloat16 {speeds[1]:.0f}")


def load_models(model: str):
    """(tokenizer, causal LM, sequence classifier) in float32 and eval mode."""
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
        lm = AutoModelForCausalLM.from_pretrained(model)
        classifier = AutoModelForSequenceClassification.from_pretrained(model, num_labels=2)
        classifier.config.pad_token_id = tokenizer.eos_token_id
    classifier.config.use_cache = False
    return tokenizer, lm.eval(), classifier.eval()


def scoring_speeds(lm, tokenizer, sentences: list[str], repeats: int) -> None:
    import numpy as np
    import torch
    from transformers.activations import ACT2FN

    from cola_workshop.lm_scores import sentence_logprobs

    def mean_logprobs(model, batch_size=32, bf16=False):
        scored = sentence_logprobs(model, tokenizer, sentences, batch_size=batch_size, bf16=bf16)
        return np.array([values.mean() if values.size else np.nan for values in scored])

    print(f"\nnotebook 01's zero-shot scoring of {len(sentences)} CoLA training sentences")
    reference = None
    bf16_weights = copy.deepcopy(lm).to(torch.bfloat16)
    fused_gelu = copy.deepcopy(lm)
    for block in fused_gelu.transformer.h:  # GPT-2's tanh GELU, from four element-wise operations to one kernel
        block.mlp.act = ACT2FN["gelu_pytorch_tanh"]
    settings = [("float32, batch 32", lm, 32, False), ("float32, batch 64", lm, 64, False),
                ("float32, batch 128", lm, 128, False), ("fused GELU, batch 32", fused_gelu, 32, False),
                ("bf16 autocast, batch 32", lm, 32, True), ("bf16 weights, batch 32", bf16_weights, 32, False)]
    for name, model, batch_size, bf16 in settings:
        seconds, scores = best_of(repeats, lambda: mean_logprobs(model, batch_size, bf16))
        reference = scores if reference is None else reference
        moved = np.nanmax(np.abs(scores - reference))
        print(f"  {name:<24} {seconds:6.2f} s  {1000 * seconds / len(sentences):5.1f} ms a sentence"
              f"  (mean log-probabilities within {moved:.4f} of the first row's)")


def onnx_speeds(classifier, tokenizer, repeats: int) -> None:
    import onnxruntime
    import torch

    from cola_workshop.deployment import quiet

    example = tokenizer(["A sentence to trace the model with.", "Short one."], padding=True, return_tensors="pt",
                        return_token_type_ids=False)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "logits": {0: "batch"}}
    path = Path(tempfile.mkdtemp()) / "model.onnx"

    def export(folding: bool):
        with quiet():
            torch.onnx.export(classifier, (), path, kwargs=dict(example), dynamo=False, dynamic_axes=axes,
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              do_constant_folding=folding)

    print("\nnotebook 06's ONNX export and onnxruntime session")
    export(True)  # the first export imports the exporter's modules
    for folding in (True, False):
        seconds, _ = best_of(repeats, lambda: export(folding))
        print(f"  export, constant folding {'on ' if folding else 'off'} {seconds:6.2f} s"
              f"  ({path.stat().st_size / 1e6:.0f} MB)")
    for level in ("ORT_ENABLE_ALL", "ORT_ENABLE_BASIC", "ORT_DISABLE_ALL"):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
        seconds, _ = best_of(repeats, lambda: onnxruntime.InferenceSession(path, options,
                                                                           providers=["CPUExecutionProvider"]))
        print(f"  session, {level:<17} {seconds:6.2f} s")
    path.unlink()
    path.parent.rmdir()


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
    matmul_speeds(args.repeats)
    tokenizer, lm, classifier = load_models(args.model)
    scoring_speeds(lm, tokenizer, sentences, args.repeats)
    onnx_speeds(classifier, tokenizer, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

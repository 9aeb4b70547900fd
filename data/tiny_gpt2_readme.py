"""The README.md and licence that ``make_tiny_assets.py`` writes into data/tiny-gpt2 (it imports nothing from beside
it: the script passes ``model_readme`` to ``tiny_gpt2_recipe.build``)."""

from __future__ import annotations

import math

# openai/gpt-2, LICENSE, commit 0574c5708b094bfa0b0f6dfe3fd284d9a045acd9, verbatim.
GPT2_LICENSE = """Modified MIT License

Software Copyright (c) 2019 OpenAI

We don’t claim ownership of the content you create with GPT-2, so it is yours to do with as you please.
We only ask that you use GPT-2 responsibly and clearly indicate your content was created using GPT-2.

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense,
and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included
in all copies or substantial portions of the Software.
The above copyright notice and this permission notice need not be included
with content created by the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS
BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE
OR OTHER DEALINGS IN THE SOFTWARE.
"""


# Measured once with the committed weights and data/cola_tiny (validation: 200 sentences), not recomputed here.
TINY_PROFILE_RESULTS = [
    "## What it gives in the `tiny` profile",
    "",
    "Validation MCC on `data/cola_tiny` (200 sentences) from `cola-workshop run --profile tiny`, measured once",
    "with these weights: zero-shot SLOR 0.00 (the threshold fitted on the training sentences calls every",
    "validation sentence unacceptable), fine-tuned 0.13, and -0.16 for an untrained classification head (a",
    "random rule, scored by notebook 06 until 2026-12). The zero-shot scores separate nothing: 75,000 tokens of",
    "text teach a model this small word statistics, not grammar.",
    "Fine-tuning gains from the pretraining: with the tiny profile's settings, the best-epoch validation MCC",
    "over seeds 42, 1 and 2 was 0.13, 0.18 and 0.09 from these weights, and 0.03, 0.03 and 0.00 from the same",
    "architecture randomly initialised.",
    "",
    "The tiny profile's fine-tuning settings (`cola_workshop/settings.py`: 5 epochs, learning rate 3e-3,",
    "batch 32) were chosen among three (learning rate 1e-3 for 10 epochs, 2e-3 for 10, 3e-3 for 5) by that",
    "mean best-epoch validation MCC over the same three seeds (0.08, 0.11, 0.13): chosen on the validation",
    "labels, so the tiny profile's MCC is optimistic. Nothing else was tuned on them; the pretraining recipe",
    "was fixed by held-out loss and run time. With 200 validation sentences the seed alone moves MCC from 0.09",
    "to 0.18: these numbers are a rehearsal, not a result.",
    "",
]


MODEL_INTRO = [
    "# tiny-gpt2: GPT-2's real tokenizer on a tiny GPT-2 pretrained on CoLA's text",
    "",
    "The `tiny` profile's model (CI, offline rehearsals): a stand-in for `openai-community/gpt2` that loads",
    "and behaves like it (same classes, same tokenizer, no pad token) but is small enough to fine-tune in",
    "seconds on a CPU. Its numbers are a rehearsal, not a result.",
    "",
    "## Tokenizer",
    "",
    "`vocab.json` and `merges.txt` are OpenAI's GPT-2 byte-level BPE files, unchanged (50,257 tokens;",
    "`encoder.json` and `vocab.bpe` in OpenAI's release). `tokenizer_config.json` says what",
    "`openai-community/gpt2` says: `<|endoftext|>` (id 50256) is the bos, eos and unk token, **there is no pad",
    "token** (the notebooks set pad = eos), 1,024 positions. There is no `tokenizer.json` (it would add 2 MB):",
    "`AutoTokenizer.from_pretrained(\"data/tiny-gpt2\")` builds the same fast tokenizer from the two files.",
    "Licence: OpenAI's Modified MIT License, in `LICENSE`.",
    "",
]


def _checksums(checksums: dict, note: tuple[str, ...] = ()) -> list[str]:
    return ["## sha256", "", *note, "```", *[f"{digest}  {name}" for name, digest in checksums.items()], "```", ""]




def _model_section(facts: dict, architecture: dict) -> list[str]:
    embedding = facts["vocab_size"] * architecture["n_embd"]
    return [
        "## Model",
        "",
        f"`GPT2LMHeadModel`, {architecture['n_layer']} layers, {architecture['n_head']} heads, width "
        f"{architecture['n_embd']}, {architecture['n_positions']} positions, GPT-2's vocabulary: "
        f"{facts['parameters']:,} parameters, {embedding:,} of them the (tied) token embedding. float32",
        "`model.safetensors` (no pickle files). It loads with `AutoModelForCausalLM`,",
        "`AutoModelForSequenceClassification` (a new 2-label head) and `AutoModelForQuestionAnswering` (a new",
        "head), offline.",
        "",
    ]


def _pretraining_section(facts: dict, recipe: dict, seed: int) -> list[str]:
    passes = recipe["steps"] * recipe["batch_size"] / facts["sentences"]
    after = facts["held_out_loss_after"]
    return [
        "## Pretraining",
        "",
        "- Data: the text of the CoLA v1.1 `in_domain_train.tsv` sentences that are not in `data/cola_tiny` and",
        "  equal no sentence of it (no validation or test sentence of the tiny sample is seen before evaluation),",
        f"  each distinct sentence once: {facts['sentences'] + facts['held_out']:,} sentences. Labels are not read,",
        "  so it reads acceptable and unacceptable sentences alike, as GPT-2 read the web.",
        f"  {facts['held_out']} of them (seeded) are held out to measure the loss; it trains on the other "
        f"{facts['sentences']:,} ({facts['tokens']:,} predicted tokens per pass).",
        "- Objective: next-token prediction, each sentence as `<|endoftext|> sentence <|endoftext|>`, with the",
        "  softmax over all 50,257 tokens. Tokens that never occur in the text "
        f"({facts['vocab_size'] - facts['active_tokens']:,} of them) start from one shared",
        "  embedding; as they are never input or target they get identical updates and stay equal, so their",
        f"  logits are computed once (`CompactVocabulary` in `data/tiny_gpt2_recipe.py`): {facts['active_tokens']:,}",
        "  rows instead of 50,257, the same softmax at an eighth of the cost.",
        f"- {recipe['steps']:,} AdamW steps (weight decay 0.01, gradient clipping 1.0) of batch "
        f"{recipe['batch_size']}, learning rate {recipe['learning_rate']:g}",
        f"  with {recipe['warmup_steps']} warm-up steps then cosine decay to 10%; {passes:.1f} passes over the text.",
        f"- Seed {seed}, {recipe['threads']} thread, `torch.use_deterministic_algorithms(True)`: the same machine",
        "  rebuilds the same weights; another CPU may round differently.",
        f"- Held-out loss: {facts['held_out_loss_before']:.2f} nats per token before, {after:.2f} after "
        f"(perplexity {_ppl(after)}); the last training batch's loss was {facts['last_loss']:.2f}.",
        f"  Pretraining took {facts['seconds'] / 60:.1f} min here (2 shared CPU cores).",
        "",
    ]


def model_readme(facts: dict, architecture: dict, recipe: dict, checksums: dict, seed: int, rebuild: str) -> str:
    """data/tiny-gpt2/README.md: tokenizer, architecture, pretraining recipe and results, rebuild, checksums."""
    note = ("The tokenizer files must match these; `model.safetensors` matches only when rebuilt on the same kind "
            "of CPU.", "")  # fmt: skip
    body = [*MODEL_INTRO, *_model_section(facts, architecture), *_pretraining_section(facts, recipe, seed)]
    return "\n".join([*body, *TINY_PROFILE_RESULTS, "## Rebuild", "", rebuild, "", *_checksums(checksums, note)])


def _ppl(loss: float) -> str:
    return f"{math.exp(loss):,.0f}"

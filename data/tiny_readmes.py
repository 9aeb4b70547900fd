"""The README files (and GPT-2's licence notice) that ``make_tiny_assets.py`` writes beside the tiny assets."""

from __future__ import annotations

from collections import Counter

from make_tiny_assets import (
    DUPLICATED_IN_TRAIN, IN_DEV, LENGTH_BINS, OUT_DEV, SHARED_WITH_TRAIN, SIZES, TEST, TRAIN, length_bin,
)  # fmt: skip

REBUILD = "\n".join(
    [
        "```bash",
        ".venv/bin/python data/make_tiny_assets.py --shared ../shared/data                # sample, tokenizer, model",
        ".venv/bin/python data/make_tiny_assets.py --shared ../shared/data --sample-only  # the sample alone",
        "```",
    ]
)
CITATION = (
    "Alex Warstadt, Amanpreet Singh and Samuel R. Bowman. 2019. *Neural Network Acceptability Judgments*. "
    "Transactions of the Association for Computational Linguistics 7: 625-641. arXiv:1805.12471."
)
TERMS = (
    "> The text in this corpus is excerpted from the published works at the end of this document, and copyright\n"
    "> (where applicable) remains with the original authors or publishers. We expect that research use within the\n"
    "> US is legal under fair use, but make no guarantee of this."
)
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
    "with these weights: untrained classification head -0.16, zero-shot SLOR 0.00 (the threshold fitted on the",
    "training sentences calls every validation sentence unacceptable), fine-tuned 0.13. The zero-shot scores",
    "separate nothing: 75,000 tokens of text teach a model this small word statistics, not grammar.",
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


def _bins_label() -> str:
    edges = (0, *LENGTH_BINS)
    labels = [f"{low + 1}-{high}" for low, high in zip(edges, edges[1:])]
    return " / ".join([*labels, f"{LENGTH_BINS[-1] + 1}+"])


def _stats(rows) -> str:
    labels = [row.label for row in rows if row.label is not None]
    share = f"{sum(labels):,} ({sum(labels) / len(labels):.1%})" if labels else "unlabeled"
    words = sum(len(row.sentence.split()) for row in rows) / len(rows)
    bins = Counter(length_bin(row.sentence) for row in rows)
    shape = " / ".join(f"{100 * bins[b] / len(rows):.0f}" for b in range(len(LENGTH_BINS) + 1))
    return f"{len(rows):,} | {share} | {words:.1f} | {shape} | {len({row.source for row in rows})}"


def _table(corpus, sample) -> list[str]:
    lines = [
        f"| file | rows | acceptable | mean words | % of sentences with {_bins_label()} words | journals |",
        "|---|---|---|---|---|---|",
    ]
    for name in SIZES:
        lines.append(f"| `{name}` (sample) | {_stats(sample[name])} |")
        lines.append(f"| `{name}` (full release) | {_stats(corpus[name])} |")
    return lines


def _quirks(sample, quirks: dict) -> list[str]:
    def rows_of(name, sentence):
        found = [row for row in sample[name] if row.sentence == sentence]
        return ", ".join(f"{row.source} label {row.label}" if row.label is not None else "test" for row in found)

    lines = [f"- `{TRAIN}` has {quirks['duplicated in train']} duplicated sentences (CoLA's train has 19):"]
    lines += [f"  - \"{sentence}\" ({rows_of(TRAIN, sentence)})" for sentence in DUPLICATED_IN_TRAIN]
    lines.append(
        f"  {quirks['train duplicates with disagreeing labels']} of them with disagreeing labels, as 11 of the 19 "
        "in the full corpus: different linguists judged the same string differently."
    )
    for name in (IN_DEV, OUT_DEV, TEST):
        lines.append(f"- `{name}` shares {quirks[f'{name} sentences also in train']} sentences with train:")
        lines += [
            f"  - \"{sentence}\" (here: {rows_of(name, sentence)}; train: {rows_of(TRAIN, sentence)})"
            for sentence in SHARED_WITH_TRAIN[name]
        ]
    lines.append(
        "- The full release has 18 validation and 19 test sentences that also occur in train. Apart from the rows "
        "above, the sample was drawn only from sentences that occur once in the whole release, so these are all "
        "its duplicates and overlaps. Notebook 02's data checks count them."
    )
    return lines


SAMPLE_INTRO = [
    "# cola_tiny: a stratified sample of the real CoLA v1.1",
    "",
    "The `tiny` profile's data (CI, offline rehearsals): 1,000 training, 100 + 100 validation and 100 test",
    "sentences of the **Corpus of Linguistic Acceptability**, real rows of the public release, in its own",
    "layout, so `--data data/cola_tiny` reads it exactly as it reads the full release.",
    "",
    "## Source and citation",
    "",
    "- `raw/*.tsv`: CoLA **v1.1** public release, by the authors (github.com/nyu-mll/CoLA, `cola_public_1.1.zip`,",
    "  the \"latest version\" offered at nyu-mll.github.io/CoLA). Every line is byte-identical to a line of",
    "  the release's `raw/` files, with its 4 columns: journal code, label (1 acceptable, 0 unacceptable), the",
    "  author's original mark and the sentence. Lines keep the release's order. `README` is the release's own",
    "  README, unchanged (its line counts describe the full release, not this sample).",
    "- `glue_test/test.tsv`: GLUE's unlabeled CoLA test file (`CoLA/test.tsv` of GLUE's `CoLA.zip`; CoLA's",
    "  in-domain test sentences, GLUE indices 0-529, then its out-of-domain ones, 530-1062). Lines are",
    "  byte-identical to GLUE's and **keep GLUE's original indices** (so they are not 0..99), under GLUE's",
    "  header `index<TAB>sentence`. GLUE publishes no test labels, and neither does this sample.",
    f"- Cite: {CITATION}",
    "",
    "sha256 of the source files this sample was drawn from:",
    "",
]
SAMPLE_TERMS = [
    "## Terms",
    "",
    "CoLA has no licence file. Its README (section 5, `README` here) says:",
    "",
    TERMS,
    "",
    "The works are listed in sections 6 and 7 of `README`. GLUE's test sentences are CoLA text too: the same",
    "terms apply. Use this sample for research and teaching, and cite the paper above.",
    "",
]
SAMPLE_REBUILD = [
    "## Rebuild",
    "",
    "`data/make_tiny_assets.py` (not part of the `cola_workshop` package) draws the sample again, byte for",
    "byte, from the release files in `../shared/data/cola_public/`; `tests/test_tiny_assets.py` checks it.",
    "",
    REBUILD,
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


def _drawing(seed: int) -> list[str]:
    return [
        "## How it was drawn",
        "",
        f"Seed {seed} (arXiv:1805.12471). Sentences were put in strata and each stratum was sampled in proportion",
        "to its size (largest-remainder rounding, then a uniform draw without replacement from a random",
        "generator seeded with the seed, the file and the stratum):",
        "",
        "- `raw/in_domain_train.tsv`: journal x label x length bin (17 journals, 2 labels, 5 bins);",
        "- `raw/in_domain_dev.tsv`, `raw/out_of_domain_dev.tsv`: label x length bin (100 rows are too few for",
        "  journals; they still come from 14 and 6 journals);",
        "- `glue_test/test.tsv`: in-domain / out-of-domain part x length bin.",
        "",
        f"Length bins, in words: {_bins_label()}, roughly the quintiles of the training sentences.",
        "The quirk rows listed below were put in first and the stratified draw filled the rest.",
        "",
    ]


def sample_readme(corpus, sample, quirks: dict, checksums: dict, sources: dict, seed: int) -> str:
    """data/cola_tiny/README.md: source, citation, terms, how it was drawn, the table, the quirks, checksums."""
    source_sums = ["```", *[f"{digest}  cola_public/{name}" for name, digest in sources.items()], "```", ""]
    quirk_lines = ["## Quirks kept on purpose", "", *_quirks(sample, quirks), ""]
    body = [*SAMPLE_INTRO, *source_sums, *SAMPLE_TERMS, *_drawing(seed), *_table(corpus, sample), "", *quirk_lines]
    return "\n".join([*body, *SAMPLE_REBUILD, *_checksums(checksums)])


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


def model_readme(facts: dict, architecture: dict, recipe: dict, checksums: dict, seed: int) -> str:
    """data/tiny-gpt2/README.md: tokenizer, architecture, pretraining recipe and results, rebuild, checksums."""
    note = ("The tokenizer files must match these; `model.safetensors` matches only when rebuilt on the same kind "
            "of CPU.", "")  # fmt: skip
    body = [*MODEL_INTRO, *_model_section(facts, architecture), *_pretraining_section(facts, recipe, seed)]
    return "\n".join([*body, *TINY_PROFILE_RESULTS, "## Rebuild", "", REBUILD, "", *_checksums(checksums, note)])


def _ppl(loss: float) -> str:
    import math

    return f"{math.exp(loss):,.0f}"

"""Rebuild the tiny profile's assets from the real CoLA v1.1 release and GPT-2's real tokenizer.

    .venv/bin/python data/make_tiny_assets.py --shared ../shared/data            # sample + tokenizer + model
    .venv/bin/python data/make_tiny_assets.py --shared ../shared/data --sample-only

``--shared`` is a folder holding ``cola_public/`` (CoLA v1.1 as released by nyu-mll, plus GLUE's unlabeled
``glue_test/test.tsv``) and ``gpt2-tokenizer/`` (OpenAI's ``vocab.json`` and ``merges.txt``).

It writes

* ``data/cola_tiny/``: a seeded, stratified sample of CoLA in the release's own layout. Every labelled row is
  a byte-identical copy of a CoLA v1.1 row, every test row a byte-identical copy of a GLUE test row (original
  indices kept), in the order of the source file. A few of CoLA's real quirks are put in on purpose (duplicated
  training sentences, one pair with disagreeing labels, sentences shared by train and validation or test) so
  that the data checks of notebook 02 find something, as they do on the full corpus.
* ``data/tiny-gpt2/``: GPT-2's tokenizer files, unchanged, and a tiny GPT-2 pretrained as a causal language model
  on the text (never the labels) of the CoLA training sentences that are *not* in the sample
  (``tiny_gpt2_recipe.py`` and ``tiny_gpt2_readme.py`` beside this script, imported only to build the model).

The sample is byte-for-byte reproducible anywhere (pure Python, string-seeded RNGs); the model is reproducible
on one machine (seeded, one thread, deterministic algorithms), but float rounding differs between CPUs.
This script is not part of the ``cola_workshop`` package: the workshop only reads what it wrote. It runs from any
working directory; ``tests/test_tiny_assets.py`` runs it as a learner would and imports it from its file.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import random
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "cola_tiny"
MODEL_DIR = HERE / "tiny-gpt2"
SEED = 1805  # arXiv:1805.12471, the CoLA paper

TRAIN, IN_DEV, OUT_DEV, TEST = (
    "raw/in_domain_train.tsv", "raw/in_domain_dev.tsv", "raw/out_of_domain_dev.tsv", "glue_test/test.tsv"
)  # fmt: skip
SIZES = {TRAIN: 1000, IN_DEV: 100, OUT_DEV: 100, TEST: 100}
GLUE_TEST_IN_DOMAIN = 530  # GLUE's test.tsv: 530 in-domain sentences (indices 0-529), then 533 out-of-domain
# Word-count bins, roughly the quintiles of CoLA's training sentences: 1-4, 5-6, 7-8, 9-11, 12 and more words.
LENGTH_BINS = (4, 6, 8, 11)

# CoLA's quirks, kept on purpose (all are real rows of the release; see data/cola_tiny/README.md).
DUPLICATED_IN_TRAIN = (
    "John wrote books.",  # bc01, labelled 1 once and 0 once
    "The effectiveness of teaching and learning depend on several factors.",  # ks08, 0 once and 1 once
    "He left.",  # ks08 and ad03, both 1
)
SHARED_WITH_TRAIN = {
    IN_DEV: ("He could not have been working.", "Any man didn't eat dinner."),  # the second: 0 in dev, 1 in train
    OUT_DEV: ("The teacher handed the student.", "Visiting relatives can be boring."),
    TEST: ("The dog barked.", "The problem disappeared."),
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of a CoLA file, kept exactly as it is in the release (``line`` has no newline)."""

    line: str
    position: int  # 0-based line number in the source file (after the test file's header)
    source: str  # journal code; "in"/"out" for GLUE's test sentences
    label: int | None  # None for test sentences
    sentence: str


def read_rows(path: Path, name: str) -> list[Row]:
    """The rows of a CoLA release file (or GLUE's test.tsv), each with its exact text."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.split("\n") if line]
    rows = []
    if name == TEST:
        if lines[0] != "index\tsentence":
            sys.exit(f"{path}: expected GLUE's header 'index<TAB>sentence': pass the unmodified glue_test/test.tsv")
        for position, line in enumerate(lines[1:]):
            index, sentence = line.split("\t")
            part = "in" if int(index) < GLUE_TEST_IN_DOMAIN else "out"
            rows.append(Row(line, position, part, None, sentence))
        return rows
    for position, line in enumerate(lines):
        source, label, _mark, sentence = line.split("\t")
        rows.append(Row(line, position, source, int(label), sentence))
    return rows


def read_corpus(shared: Path) -> dict[str, list[Row]]:
    """All four files of the release, keyed by file name; a clear exit when ``shared`` does not hold them."""
    folder = Path(shared) / "cola_public"
    missing = [name for name in SIZES if not (folder / name).is_file()]
    if missing:
        sys.exit(f"{folder} lacks {', '.join(missing)}: pass --shared the folder that holds cola_public/")
    return {name: read_rows(folder / name, name) for name in SIZES}


def length_bin(sentence: str) -> int:
    words = len(sentence.split())
    return sum(words > edge for edge in LENGTH_BINS)


def allocate(counts: dict, total: int) -> dict:
    """Split ``total`` over strata in proportion to ``counts`` (largest remainder; ties by stratum key)."""
    size = sum(counts.values())
    exact = {key: total * n / size for key, n in counts.items()}
    quota = {key: int(value) for key, value in exact.items()}
    by_remainder = sorted(counts, key=lambda key: (-(exact[key] - quota[key]), str(key)))
    for key in by_remainder[: total - sum(quota.values())]:
        quota[key] += 1
    return quota


def stratified(rows: list[Row], total: int, stratum, seed: str) -> list[Row]:
    """``total`` rows drawn without replacement, each stratum in proportion to its size in ``rows``."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(stratum(row), []).append(row)
    chosen = []
    for key, quota in sorted(allocate({k: len(v) for k, v in groups.items()}, total).items(), key=str):
        chosen += random.Random(f"{seed}/{key}").sample(groups[key], quota)
    return chosen


def _by_sentence(corpus: dict[str, list[Row]], name: str, sentences) -> list[Row]:
    """Every row of file ``name`` whose sentence is one of ``sentences`` (all copies of a duplicate)."""
    wanted = set(sentences)
    rows = [row for row in corpus[name] if row.sentence in wanted]
    found = {row.sentence for row in rows}
    if found != wanted:
        sys.exit(f"{name} lacks {sorted(wanted - found)}: is --shared the CoLA v1.1 release?")
    return rows


def forced_rows(corpus: dict[str, list[Row]]) -> dict[str, list[Row]]:
    """The quirk rows of each file: duplicates in train, and sentences shared with train (both sides)."""
    shared = [sentence for sentences in SHARED_WITH_TRAIN.values() for sentence in sentences]
    forced = {name: _by_sentence(corpus, name, sentences) for name, sentences in SHARED_WITH_TRAIN.items()}
    forced[TRAIN] = _by_sentence(corpus, TRAIN, DUPLICATED_IN_TRAIN + tuple(shared))
    return forced


def draw_sample(corpus: dict[str, list[Row]], seed: int = SEED) -> dict[str, list[Row]]:
    """The tiny sample: per file, the quirk rows plus a stratified draw, in the source file's order.

    Strata: journal x label x length bin for train (17 journals); label x length bin for the two validation
    files (100 rows each: too few for journals); in-/out-of-domain part x length bin for the unlabeled test.
    The random part is drawn only from sentences that occur once in the whole release, so the quirks in the
    sample are exactly the chosen ones.
    """
    occurrences = Counter(row.sentence for rows in corpus.values() for row in rows)
    forced = forced_rows(corpus)
    strata = {
        TRAIN: lambda row: (row.source, row.label, length_bin(row.sentence)),
        IN_DEV: lambda row: (row.label, length_bin(row.sentence)),
        OUT_DEV: lambda row: (row.label, length_bin(row.sentence)),
        TEST: lambda row: (row.source, length_bin(row.sentence)),
    }
    sample = {}
    for name, size in SIZES.items():
        pool = [row for row in corpus[name] if occurrences[row.sentence] == 1]
        drawn = stratified(pool, size - len(forced[name]), strata[name], f"{seed}/{name}")
        sample[name] = sorted(forced[name] + drawn, key=lambda row: row.position)
    return sample


def sample_sentences(sample: dict[str, list[Row]]) -> set[str]:
    return {row.sentence for rows in sample.values() for row in rows}


def sample_file_text(name: str, rows: list[Row]) -> str:
    header = "index\tsentence\n" if name == TEST else ""
    return header + "".join(row.line + "\n" for row in rows)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_sample(corpus, sample: dict[str, list[Row]], shared: Path, folder: Path = DATA_DIR, seed: int = SEED):
    """The four files, CoLA's own README (its terms and references, unchanged) and our README.md."""
    folder = Path(folder)
    for name, rows in sample.items():
        write_text(folder / name, sample_file_text(name, rows))
    release = Path(shared) / "cola_public"
    (folder / "README").write_bytes((release / "README").read_bytes())
    checksums = {name: sha256(folder / name) for name in ("README", *SIZES)}
    sources = {name: sha256(release / name) for name in SIZES}
    readme = sample_readme(corpus, sample, quirk_counts(sample), checksums, sources, seed)
    write_text(folder / "README.md", readme)


# The sample's README.md: source, citation, terms, how it was drawn, its statistics, its quirks, checksums.

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



def quirk_counts(sample: dict[str, list[Row]]) -> dict[str, int]:
    """What notebook 02's checks will count: duplicates in train, and sentences of other files also in train."""
    train = Counter(row.sentence for row in sample[TRAIN])
    counts = {"duplicated in train": sum(n - 1 for n in train.values())}
    counts["train duplicates with disagreeing labels"] = sum(
        len({row.label for row in sample[TRAIN] if row.sentence == sentence}) > 1
        for sentence, n in train.items()
        if n > 1
    )
    for name in (IN_DEV, OUT_DEV, TEST):
        counts[f"{name} sentences also in train"] = sum(row.sentence in train for row in sample[name])
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, required=True, help="folder with cola_public/ and gpt2-tokenizer/")
    parser.add_argument("--sample-only", action="store_true", help="redraw data/cola_tiny only (no model)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the sample goes")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="where the tiny GPT-2 goes")
    parser.add_argument("--steps", type=int, default=1500, help="pretraining steps (fewer for a quick check of the "
                        "recipe; the committed model took 1500)")
    args = parser.parse_args(argv)

    corpus = read_corpus(args.shared)
    sample = draw_sample(corpus)
    write_sample(corpus, sample, args.shared, args.data_dir)
    for name, rows in sample.items():
        labels = [row.label for row in rows if row.label is not None]
        share = f", {sum(labels) / len(labels):.1%} acceptable" if labels else ""
        print(f"{args.data_dir.name}/{name}: {len(rows)} rows{share}")
    print(quirk_counts(sample))
    if args.sample_only:
        return
    # Beside this script (Python puts its folder first on the path); imported here because the recipe loads torch.
    import tiny_gpt2_readme
    import tiny_gpt2_recipe

    def readme(*facts) -> str:
        return tiny_gpt2_readme.model_readme(*facts, rebuild=REBUILD)

    train = [row.sentence for row in corpus[TRAIN]]
    tiny_gpt2_recipe.build(args.shared, args.model_dir, train, sample_sentences(sample), SEED, readme=readme,
                           license_text=tiny_gpt2_readme.GPT2_LICENSE, steps=args.steps)


if __name__ == "__main__":
    main()

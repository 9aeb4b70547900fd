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
  (see ``tiny_gpt2_recipe.py``).

The sample is byte-for-byte reproducible anywhere (pure Python, string-seeded RNGs); the model is reproducible
on one machine (seeded, one thread, deterministic algorithms), but float rounding differs between CPUs.
This script is not part of the ``cola_workshop`` package: the workshop only reads what it wrote.
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
    import tiny_readmes  # beside this script

    folder = Path(folder)
    for name, rows in sample.items():
        write_text(folder / name, sample_file_text(name, rows))
    release = Path(shared) / "cola_public"
    (folder / "README").write_bytes((release / "README").read_bytes())
    checksums = {name: sha256(folder / name) for name in ("README", *SIZES)}
    sources = {name: sha256(release / name) for name in SIZES}
    readme = tiny_readmes.sample_readme(corpus, sample, quirk_counts(sample), checksums, sources, seed)
    write_text(folder / "README.md", readme)


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
    import tiny_gpt2_recipe  # beside this script; imports torch and transformers

    tiny_gpt2_recipe.build(args.shared, args.model_dir, corpus, sample_sentences(sample), seed=SEED)


if __name__ == "__main__":
    main()

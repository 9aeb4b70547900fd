"""How far does notebook 01's zero-shot threshold move when it is fitted on fewer training sentences?

    .venv/bin/python benchmarks/zero_shot_subset.py --simulate          # scores of a known quality, CoLA's sizes
    .venv/bin/python benchmarks/zero_shot_subset.py                     # the tiny profile's model, ../shared's CoLA
    .venv/bin/python benchmarks/zero_shot_subset.py --model DIR --data DIR --sizes 250,500,1000

Notebook 01 scores a random subset of the training split with the language model (``max_train``) to fit each
score's threshold, because scoring is the slow part of that notebook. This scores the whole training split and the
validation split once, then for each subset size draws ``--draws`` subsets, fits the threshold on each as the
notebook does (``zero_shot.choose_threshold``) and prints how the threshold and the validation MCC it gives spread,
against the threshold fitted on every training sentence. It also times the scoring, per sentence.

The answer depends on how much the scores know. GPT-2's own scores need the hub, and the tiny profile's model has
read CoLA's training text (its training scores are optimistic) and ranks validation sentences near chance, so
``--simulate`` draws scores of a chosen ROC-AUC instead: two normal distributions, CoLA's 70.4% acceptable, the
split's 8,551 training and 1,043 validation sentences, and the same fitting.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "data" / "cola_public"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO_ROOT / "data" / "tiny-gpt2"), help="a causal LM folder or hub id "
                        "(default: the tiny profile's model)")
    parser.add_argument("--data", default=str(SHARED_CORPUS), help="CoLA's release folder (default: ../shared's)")
    parser.add_argument("--sizes", default="100,250,500,1000,2000", help="subset sizes, comma-separated")
    parser.add_argument("--draws", type=int, default=50, help="random subsets per size (default 50)")
    parser.add_argument("--simulate", action="store_true", help="scores drawn with ROC-AUC 0.55, 0.6, 0.65 and 0.7 "
                        "instead of a model's")
    return parser.parse_args(argv)


def spread(scores: dict, labels: dict, sizes: list[int], draws: int) -> None:
    """The thresholds fitted on random training subsets of each size, and the validation MCC each gives."""
    from sklearn.metrics import matthews_corrcoef

    from cola_workshop.zero_shot import choose_threshold

    def validation_mcc(threshold):
        return matthews_corrcoef(labels["validation"], scores["validation"] >= threshold)

    everything = choose_threshold(scores["train"], labels["train"])
    print(f"fitted on all {len(labels['train']):,} training sentences: threshold {everything:.3f}, "
          f"validation MCC {validation_mcc(everything):.3f}")
    print("subset   threshold: mean   sd     |  validation MCC: mean   5th pct   lowest")
    rng = np.random.default_rng(0)
    for size in sizes:
        thresholds, mccs = [], []
        for _ in range(draws):
            rows = rng.choice(len(labels["train"]), size=min(size, len(labels["train"])), replace=False)
            thresholds.append(choose_threshold(scores["train"][rows], labels["train"][rows]))
            mccs.append(validation_mcc(thresholds[-1]))
        print(f"{size:>6}   {np.mean(thresholds):>15.3f}  {np.std(thresholds):.3f}  |  {np.mean(mccs):>18.3f}"
              f"   {np.percentile(mccs, 5):.3f}     {min(mccs):.3f}")


def simulated(auc: float, rng, sizes=(("train", 8551), ("validation", 1043)), acceptable: float = 0.704):
    """(scores, labels) per split: unit normals, the acceptable sentences' shifted so that a random pair of one
    acceptable and one unacceptable sentence is ranked right with probability ``auc`` (the ROC-AUC)."""
    from scipy.stats import norm

    shift = np.sqrt(2) * norm.ppf(auc)  # the difference of the two normals has sd sqrt(2)
    labels = {split: (rng.random(n) < acceptable).astype(int) for split, n in sizes}
    return {split: rng.normal(shift * y, 1.0) for split, y in labels.items()}, labels


def simulate(sizes: list[int], draws: int) -> None:
    rng = np.random.default_rng(0)
    for auc in (0.55, 0.6, 0.65, 0.7):
        scores, labels = simulated(auc, rng)
        print(f"\nsimulated scores, ROC-AUC {auc}; {draws} random subsets per size")
        spread(scores, labels, sizes, draws)


def main(argv=None) -> int:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cola_workshop.data import cola_files, read_labeled_tsv
    from cola_workshop.zero_shot import SCORE_NAMES, score_sentences, unigram_logprobs

    args = parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.simulate:
        simulate(sizes, args.draws)
        return 0
    files = cola_files(args.data)
    if files.hub or files.saved:
        sys.exit("give --data a folder of CoLA's release files (tab-separated), not the hub or a saved dataset")
    rows = {split: [row for path in files.labeled[split] for row in read_labeled_tsv(Path(path))]
            for split in ("train", "validation")}
    labels = {split: np.array([row["label"] for row in split_rows]) for split, split_rows in rows.items()}
    sentences = {split: [row["sentence"] for row in split_rows] for split, split_rows in rows.items()}
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    unigram = unigram_logprobs(tokenizer, sentences["train"])
    started = time.perf_counter()
    scores = {split: score_sentences(model, tokenizer, texts, unigram) for split, texts in sentences.items()}
    per_sentence = (time.perf_counter() - started) / sum(len(texts) for texts in sentences.values())
    print(f"{args.model}: {len(rows['train']):,} training and {len(rows['validation']):,} validation sentences "
          f"scored, {1000 * per_sentence:.1f} ms a sentence; {args.draws} random subsets per size")
    for name in SCORE_NAMES:
        print(f"\n{name}:")
        spread({split: values[name] for split, values in scores.items()}, labels, sizes, args.draws)
    return 0


if __name__ == "__main__":
    sys.exit(main())

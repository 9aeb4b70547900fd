"""Zero-shot acceptability baseline: score sentences with the causal language model itself.

Before fine-tuning, a language model already "knows" something about acceptability: it gives
ungrammatical strings lower probability. Lau, Clark & Lappin (2017, *Grammaticality, acceptability,
and probability: a probabilistic view of linguistic knowledge*, Cognitive Science 41(5)) turn LM
probabilities into acceptability scores. Two of their measures are implemented here:

- **mean log-probability**: ``log P_model(s) / |s|``, the average log-probability per token, so long
  sentences are not penalised merely for being long;
- **SLOR** (syntactic log-odds ratio): ``(log P_model(s) - log P_unigram(s)) / |s|``, which in addition
  subtracts the unigram log-probability of the same tokens, so a sentence is not penalised for
  containing rare words (rare names, technical terms) either.

Here ``|s|`` is the number of tokens scored (see :func:`sentence_logprobs`), and the unigram model is
estimated from the *training* sentences with add-one smoothing (:func:`unigram_logprobs`).

A score becomes a classifier with one threshold: predict 1 (acceptable) when ``score >= threshold``,
where the threshold maximises the Matthews correlation (MCC, CoLA's official metric) on the training
split (:func:`choose_threshold`). :func:`zero_shot_baseline` does all of this and returns plain Python
numbers and lists that ``json.dumps`` accepts as they are, so a notebook can cache them and put the
zero-shot MCC beside the fine-tuned classifier's.

Works with any ``AutoModelForCausalLM`` (GPT-2 family, Llama-style, ...) and its tokenizer, including
tokenizers without a pad token or without a BOS token. The tokenizer passed in is never modified.

The scores come from ``lm_scores`` (the language model's side); this module fits and evaluates the thresholds.
Public API (the scores' functions re-exported from ``lm_scores``)::

    scored_token_ids(tokenizer, sentences)                 the token ids whose log-probabilities are scored
    sentence_logprobs(model, tokenizer, sentences)         per sentence, log P_model of each scored token
    unigram_logprobs(tokenizer, sentences)                 add-one smoothed unigram log-probabilities
    mean_logprob(token_logprobs)                           average log-probability per token
    slor(token_logprobs, token_unigram_logprobs)           SLOR of one sentence
    score_sentences(model, tokenizer, sentences, unigram)  {"mean_logprob": ..., "slor": ...}
    choose_threshold(scores, labels)                       the MCC-maximising threshold on training scores
    zero_shot_baseline(model, tokenizer, train..., eval...) thresholds, MCC and accuracy, JSON-ready
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, matthews_corrcoef

from .lm_scores import (
    SCORE_NAMES,
    as_sentences,
    first_token_conditioned_on_bos,
    mean_logprob,
    score_sentences,
    scored_token_ids,
    sentence_logprobs,
    slor,
    unigram_logprobs,
)

__all__ = [
    "SCORE_NAMES",
    "choose_threshold",
    "mean_logprob",
    "scored_token_ids",
    "score_sentences",
    "sentence_logprobs",
    "slor",
    "unigram_logprobs",
    "zero_shot_baseline",
]


# --------------------------------------------------------------------------------------------------
# Thresholds and the baseline
# --------------------------------------------------------------------------------------------------


def _labels(labels, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{n} scores but labels of shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (unacceptable) or 1 (acceptable)")
    return labels.astype(np.int64)


def _mcc_from_counts(tp, fp, tn, fn) -> np.ndarray:
    """Matthews correlation from confusion counts, 0 where it is undefined (as sklearn does)."""
    tp, fp, tn, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, tn, fn))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    numerator = tp * tn - fp * fn
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def choose_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The threshold that maximises Matthews correlation when predicting 1 (acceptable) for ``score >= threshold``.

    Candidates are one value below the smallest score (everything predicted acceptable) and the midpoints
    between consecutive distinct scores; among equally good candidates the smallest threshold wins, so
    the result does not depend on the order of the inputs. NaN scores are always predicted 0 and take no
    part in the candidates. The MCC of every candidate is computed at once from cumulative counts; it
    equals ``sklearn.metrics.matthews_corrcoef`` on the corresponding predictions. Fit it on training
    scores only.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError("scores must be one-dimensional")
    labels = _labels(labels, scores.size)
    finite = np.isfinite(scores)
    if not finite.any():
        raise ValueError("no finite score to choose a threshold from")

    values = np.unique(scores[finite])  # sorted
    low, high = values[:-1], values[1:]
    midpoints = (low + high) / 2.0
    # Adjacent floats can have no float strictly between them; cutting at the upper one splits the same way.
    midpoints = np.where(midpoints > low, midpoints, high)
    candidates = np.concatenate([[values[0] - 1.0], midpoints])
    # Candidate k predicts 1 exactly for the scores >= values[k].
    positive_scores = np.sort(scores[finite & (labels == 1)])
    negative_scores = np.sort(scores[finite & (labels == 0)])
    tp = positive_scores.size - np.searchsorted(positive_scores, values, side="left")
    fp = negative_scores.size - np.searchsorted(negative_scores, values, side="left")
    positives, negatives = int((labels == 1).sum()), int((labels == 0).sum())
    mcc = _mcc_from_counts(tp, fp, negatives - fp, positives - tp)
    best = int(np.flatnonzero(mcc >= mcc.max() - 1e-12)[0])
    return float(candidates[best])


def _json_list(values: np.ndarray) -> list:
    """Plain Python floats, with None for NaN/inf so ``json.dumps(..., allow_nan=False)`` accepts them."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def zero_shot_baseline(
    model,
    tokenizer,
    train_sentences: Iterable[str],
    train_labels: Sequence[int],
    eval_sentences: Iterable[str],
    eval_labels: Sequence[int],
    max_train: int | None = None,
    *,
    batch_size: int = 32,
    seed: int = 0,
    bf16: bool = False,
) -> dict:
    """Evaluate both zero-shot scores as classifiers whose only fitted parameter is a threshold.

    Everything is fitted on the training split only: the unigram statistics for SLOR (on all training
    sentences, since counting tokens is cheap) and, per score, the MCC-maximising threshold (on the
    training sentences scored by the LM: all of them, or a random subset of ``max_train`` drawn with
    ``seed`` when given, because LM scoring on a CPU takes a while). The evaluation labels are only used
    to report metrics.

    Returns plain Python values (``json.dumps(result, allow_nan=False)`` works; NaN scores become None)::

        {
          "n_train": ..., "n_train_scored": ..., "n_eval": ...,
          "first_token_conditioned_on_bos": bool,   # see sentence_logprobs
          "metrics": {name: {"threshold", "train_mcc", "train_accuracy", "eval_mcc", "eval_accuracy"}
                      for name in ("mean_logprob", "slor")},
          "eval": {"sentence": [...], "label": [...],
                   "mean_logprob": [...], "pred_mean_logprob": [...],
                   "slor": [...], "pred_slor": [...]},
        }
    """
    train_sentences = as_sentences(train_sentences)
    eval_sentences = as_sentences(eval_sentences)
    train_y = _labels(train_labels, len(train_sentences))
    eval_y = _labels(eval_labels, len(eval_sentences))
    if not train_sentences:
        raise ValueError("no training sentences to fit the thresholds on")

    unigram = unigram_logprobs(tokenizer, train_sentences)
    subset = np.arange(len(train_sentences))
    if max_train is not None and max_train < len(train_sentences):
        if max_train < 1:
            raise ValueError(f"max_train must be at least 1, got {max_train}")
        subset = np.sort(np.random.default_rng(seed).choice(len(train_sentences), size=max_train, replace=False))
    train_scores = score_sentences(
        model, tokenizer, [train_sentences[i] for i in subset], unigram, batch_size=batch_size, bf16=bf16
    )
    train_y = train_y[subset]
    eval_scores = score_sentences(model, tokenizer, eval_sentences, unigram, batch_size=batch_size, bf16=bf16)

    metrics: dict[str, dict] = {}
    eval_part: dict[str, list] = {"sentence": list(eval_sentences), "label": [int(y) for y in eval_y]}
    for name in SCORE_NAMES:
        threshold = choose_threshold(train_scores[name], train_y)
        train_pred = (train_scores[name] >= threshold).astype(np.int64)  # NaN compares False: predicted 0
        eval_pred = (eval_scores[name] >= threshold).astype(np.int64)
        metrics[name] = {
            "threshold": threshold,
            "train_mcc": float(matthews_corrcoef(train_y, train_pred)),
            "train_accuracy": float(accuracy_score(train_y, train_pred)),
            "eval_mcc": float(matthews_corrcoef(eval_y, eval_pred)) if eval_y.size else None,
            "eval_accuracy": float(accuracy_score(eval_y, eval_pred)) if eval_y.size else None,
        }
        eval_part[name] = _json_list(eval_scores[name])
        eval_part[f"pred_{name}"] = [int(p) for p in eval_pred]
    return {
        "n_train": len(train_sentences),
        "n_train_scored": int(subset.size),
        "n_eval": len(eval_sentences),
        "first_token_conditioned_on_bos": first_token_conditioned_on_bos(tokenizer),
        "metrics": metrics,
        "eval": eval_part,
    }

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
zero-shot MCC beside the MCC of the untrained classification head and of the fine-tuned classifier.

Works with any ``AutoModelForCausalLM`` (GPT-2 family, Llama-style, ...) and its tokenizer, including
tokenizers without a pad token or without a BOS token. The tokenizer passed in is never modified.

Public API::

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
import torch
from sklearn.metrics import accuracy_score, matthews_corrcoef

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

#: The scores that :func:`score_sentences` returns and :func:`zero_shot_baseline` evaluates.
SCORE_NAMES = ("mean_logprob", "slor")


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------


def _as_list(sentences: Iterable[str]) -> list[str]:
    if isinstance(sentences, str):
        raise TypeError("pass a list of sentences, not a single string")
    sentences = list(sentences)
    for sentence in sentences:
        if not isinstance(sentence, str):
            raise TypeError(f"sentences must be strings, got {type(sentence).__name__}: {sentence!r}")
    return sentences


def _token_ids(tokenizer, sentences: list[str]) -> list[list[int]]:
    """The tokenizer's ids for each sentence, without any special tokens (no BOS/EOS added)."""
    if not sentences:
        return []
    return [list(ids) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]


def _bos_id(tokenizer) -> int | None:
    return getattr(tokenizer, "bos_token_id", None)


def _model_inputs(tokenizer, sentences: list[str]) -> list[list[int]]:
    """What the model reads for each sentence: ``[bos] + tokens`` when the tokenizer has a BOS token."""
    bos = _bos_id(tokenizer)
    ids = _token_ids(tokenizer, sentences)
    return [[bos, *tokens] for tokens in ids] if bos is not None else ids


def scored_token_ids(tokenizer, sentences: Iterable[str]) -> list[np.ndarray]:
    """The ids of the tokens whose log-probabilities :func:`sentence_logprobs` returns, per sentence.

    All of the sentence's tokens when the tokenizer has a BOS token, else all but the first one.
    Element ``i`` of ``sentence_logprobs(...)[k]`` is the log-probability of ``scored_token_ids(...)[k][i]``.
    """
    bos = _bos_id(tokenizer)
    start = 0 if bos is not None else 1
    return [np.asarray(tokens[start:], dtype=np.int64) for tokens in _token_ids(tokenizer, _as_list(sentences))]


def _pad_id(tokenizer) -> int:
    """Any valid id to pad with (it is masked out and, with right padding, never read by a real token)."""
    for name in ("pad_token_id", "eos_token_id", "bos_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return 0


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


# --------------------------------------------------------------------------------------------------
# Log-probabilities
# --------------------------------------------------------------------------------------------------

_ROWS, _VOCABULARY_BLOCK = 256, 8192  # 256 x 8192 float32 logits: 8 MB, within a CPU's last-level cache


def _plain_head(model) -> torch.Tensor | None:
    """The output layer's weight when the logits are exactly ``last_hidden_state @ weight.T`` (GPT-2: its
    ``lm_head``, tied to the token embeddings, has no bias and no scaling); None for other architectures,
    which are scored through their own ``forward``."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if getattr(model.config, "model_type", None) != "gpt2" or not isinstance(head, torch.nn.Linear):
        return None
    if len(set((getattr(model, "hf_device_map", None) or {}).values())) > 1:
        return None  # split over devices (device_map="auto"): accelerate's hooks move tensors in forward only
    return head.weight if head.bias is None else None


def _blockwise_logprobs(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log_softmax(hidden @ weight.T)[target]`` for each row of ``hidden``, without the whole logits tensor.

    GPT-2's output layer has 50,257 columns: a batch's full logits are hundreds of MB, written once and read
    back by ``logsumexp``. Here they are made a block of rows and vocabulary at a time, small enough to stay in
    the CPU's cache, and reduced at once: the same values up to float rounding, about twice as fast for the tiny
    model and 17% faster for GPT-2 small (2-core AMD EPYC).
    """
    out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
    for start in range(0, hidden.shape[0], _ROWS):
        rows = hidden[start : start + _ROWS]
        blocks = [torch.logsumexp((rows @ weight[v : v + _VOCABULARY_BLOCK].T).float(), dim=-1)
                  for v in range(0, weight.shape[0], _VOCABULARY_BLOCK)]
        target_logits = (rows.float() * weight[targets[start : start + _ROWS]].float()).sum(-1)
        out[start : start + _ROWS] = target_logits - torch.logsumexp(torch.stack(blocks, dim=-1), dim=-1)
    return out


def _batch_logprobs(model, head, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """[batch, length - 1] float32: position t's log-probability of token t + 1 (padding positions: anything)."""
    if head is None:
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        # Position t predicts token t + 1: log p = logit[target] - logsumexp(logits).
        logits = logits[:, :-1].float()
        return logits.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    real = attention_mask[:, 1:].bool()  # only positions that predict a real token: no work on padding
    logprobs = torch.zeros(real.shape, dtype=torch.float32, device=hidden.device)
    logprobs[real] = _blockwise_logprobs(hidden[:, :-1][real], head, input_ids[:, 1:][real])
    return logprobs


def sentence_logprobs(
    model, tokenizer, sentences: Iterable[str], batch_size: int = 32, *, bf16: bool = False
) -> list[np.ndarray]:
    """Per sentence, the natural-log probability of each of its tokens under the causal LM ``model``.

    Each sentence is tokenized as it is (``add_special_tokens=False``: no prefix space or special token
    beyond what the tokenizer itself does). If the tokenizer has a BOS token (GPT-2: ``<|endoftext|>``,
    which is both its BOS and EOS), the model reads ``[bos] + tokens`` and every token is scored, the
    first one conditioned on BOS. If it has none, there is nothing to condition the first token on, so
    scoring starts at the second token: a sentence of ``n`` tokens gets ``n - 1`` log-probabilities (a
    one-token sentence gets none). :func:`scored_token_ids` returns the matching token ids.

    Sentences are batched (longest first, to waste little padding) with right padding and an attention
    mask. The pad id is the tokenizer's pad token, or any valid id when it has none; the tokenizer object
    is not modified. The model runs in eval mode under ``torch.inference_mode()``; its previous
    train/eval mode is restored afterwards. Log-probabilities are computed in float32 and returned as
    float64 arrays, in the order of ``sentences``. For GPT-2 the output layer is applied block by block to
    the real positions only (:func:`_blockwise_logprobs`); other models are scored through their ``forward``.

    ``bf16=True`` runs the model's matrix products in bfloat16 autocast (on the model's device), as the
    Trainer does with ``bf16=True``; the log-softmax and everything after it stay in float32. It moved the tiny
    model's thresholds by less than 0.003 and changed no prediction, but for a GPT-2-small-size model it was
    not faster than float32 on a 2-core Xeon with native bf16 (AMX), so notebook 01 scores in float32.
    """
    sentences = _as_list(sentences)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    inputs = _model_inputs(tokenizer, sentences)
    results = [np.zeros(0, dtype=np.float64) for _ in sentences]
    # Fewer than two ids: nothing to predict (empty sentence, or one token and no BOS).
    order = sorted((i for i, ids in enumerate(inputs) if len(ids) >= 2), key=lambda i: (-len(inputs[i]), i))
    if not order:
        return results

    max_positions = getattr(model.config, "max_position_embeddings", None)
    longest = len(inputs[order[0]])
    if isinstance(max_positions, int) and longest > max_positions:
        raise ValueError(
            f"sentence {order[0]} needs {longest} positions but the model has {max_positions}: "
            "shorten it before scoring"
        )

    device = _model_device(model)
    pad_id = _pad_id(tokenizer)
    head = _plain_head(model)
    was_training = model.training
    model.eval()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    try:
        with torch.inference_mode(), autocast:
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                length = max(len(inputs[i]) for i in batch)
                input_ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
                attention_mask = torch.zeros((len(batch), length), dtype=torch.long)
                for row, i in enumerate(batch):
                    n = len(inputs[i])
                    input_ids[row, :n] = torch.tensor(inputs[i], dtype=torch.long)
                    attention_mask[row, :n] = 1
                logprobs = _batch_logprobs(model, head, input_ids.to(device), attention_mask.to(device))
                logprobs = logprobs.cpu().numpy().astype(np.float64)
                for row, i in enumerate(batch):
                    results[i] = logprobs[row, : len(inputs[i]) - 1].copy()
    finally:
        model.train(was_training)
    return results


def unigram_logprobs(tokenizer, sentences: Iterable[str]) -> np.ndarray:
    """Add-one (Laplace) smoothed unigram log-probabilities of every token id, from ``sentences``.

    Counts every token of every sentence (tokenized with ``add_special_tokens=False``, like
    :func:`sentence_logprobs`), then ``log P(t) = log((count(t) + 1) / (N + V))`` with ``N`` the number of
    tokens counted and ``V`` the vocabulary size (``len(tokenizer)``), so a token never seen gets the
    finite value ``log(1 / (N + V))``. Returns an array of length ``V`` indexed by token id: the unigram
    log-probabilities of a sentence are ``unigram[scored_token_ids(tokenizer, [s])[0]]``.
    Estimate it on the training sentences only.
    """
    ids = _token_ids(tokenizer, _as_list(sentences))
    flat = np.fromiter((t for tokens in ids for t in tokens), dtype=np.int64)
    vocab_size = max(len(tokenizer), int(flat.max()) + 1 if flat.size else 0)
    counts = np.bincount(flat, minlength=vocab_size).astype(np.float64)
    return np.log(counts + 1.0) - np.log(flat.size + vocab_size)


# --------------------------------------------------------------------------------------------------
# Sentence scores
# --------------------------------------------------------------------------------------------------


def mean_logprob(token_logprobs: Sequence[float]) -> float:
    """Average log-probability per scored token, ``log P_model(s) / |s|``; NaN when nothing was scored."""
    values = np.asarray(token_logprobs, dtype=np.float64)
    if values.size == 0:
        return float("nan")
    return float(values.sum() / values.size)


def slor(token_logprobs: Sequence[float], token_unigram_logprobs: Sequence[float]) -> float:
    """SLOR of one sentence: ``(log P_model(s) - log P_unigram(s)) / |s|``; NaN when nothing was scored.

    Both arguments hold one value per scored token, in the same order: the model's log-probabilities
    and the unigram log-probabilities of the same tokens. ``|s|`` is the number of scored tokens.
    """
    model = np.asarray(token_logprobs, dtype=np.float64)
    unigram = np.asarray(token_unigram_logprobs, dtype=np.float64)
    if model.shape != unigram.shape:
        raise ValueError(f"{model.size} model log-probabilities but {unigram.size} unigram ones")
    if model.size == 0:
        return float("nan")
    return float((model.sum() - unigram.sum()) / model.size)


def score_sentences(
    model, tokenizer, sentences: Iterable[str], unigram: np.ndarray, batch_size: int = 32, *, bf16: bool = False
) -> dict[str, np.ndarray]:
    """Both acceptability scores of each sentence: ``{"mean_logprob": array, "slor": array}``.

    ``unigram`` comes from :func:`unigram_logprobs` on the training sentences. Higher means more
    acceptable. A sentence with no scored token (see :func:`sentence_logprobs`) gets NaN.
    """
    sentences = _as_list(sentences)
    unigram = np.asarray(unigram, dtype=np.float64)
    logprobs = sentence_logprobs(model, tokenizer, sentences, batch_size=batch_size, bf16=bf16)
    ids = scored_token_ids(tokenizer, sentences)
    return {
        "mean_logprob": np.array([mean_logprob(lp) for lp in logprobs], dtype=np.float64),
        "slor": np.array([slor(lp, unigram[tokens]) for lp, tokens in zip(logprobs, ids)], dtype=np.float64),
    }


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
    train_sentences = _as_list(train_sentences)
    eval_sentences = _as_list(eval_sentences)
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
        "first_token_conditioned_on_bos": _bos_id(tokenizer) is not None,
        "metrics": metrics,
        "eval": eval_part,
    }

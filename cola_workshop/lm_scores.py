"""What a causal language model thinks of each sentence: log-probabilities of its tokens, and the two
acceptability scores of Lau, Clark & Lappin (2017) built on them (``zero_shot`` explains them and turns them into a
classifier).

- :func:`sentence_logprobs`: per sentence, ``log P_model`` of each scored token (GPT-2's output layer applied block
  by block to the real positions only, other models through their ``forward``);
- :func:`unigram_logprobs`: add-one smoothed unigram log-probabilities, estimated on the training sentences;
- :func:`mean_logprob` and :func:`slor`: one sentence's score from those; :func:`score_sentences`: both, for many.

Works with any ``AutoModelForCausalLM`` and its tokenizer, including tokenizers without a pad token or without a
BOS token. The tokenizer passed in is never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

#: The scores that :func:`score_sentences` returns and ``zero_shot.zero_shot_baseline`` evaluates.
SCORE_NAMES = ("mean_logprob", "slor")


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------


def as_sentences(sentences: Iterable[str]) -> list[str]:
    """``sentences`` as a list, or TypeError for a single string or anything that is not a string."""
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


def first_token_conditioned_on_bos(tokenizer) -> bool:
    """Whether the model reads a BOS token first, so that a sentence's first token is scored too."""
    return _bos_id(tokenizer) is not None


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
    return [np.asarray(tokens[start:], dtype=np.int64) for tokens in _token_ids(tokenizer, as_sentences(sentences))]


def _pad_id(tokenizer) -> int:
    """Any valid id to pad with (it is masked out and, with right padding, never read by a real token)."""
    for name in ("pad_token_id", "eos_token_id", "bos_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return 0


def right_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists of token ids as one ``[rows, longest]`` tensor padded on the right with ``pad_id``, and its attention
    mask (1 on real tokens, 0 on padding). ``tokenizer.pad`` would need a tokenizer with a pad token; this takes
    any id, so the tokenizer is left as it is."""
    ids = [torch.tensor(row, dtype=torch.long) for row in rows]
    mask = [torch.ones(len(row), dtype=torch.long) for row in rows]
    return pad_sequence(ids, batch_first=True, padding_value=pad_id), pad_sequence(mask, batch_first=True)


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
    sentences = as_sentences(sentences)
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
                input_ids, attention_mask = right_padded([inputs[i] for i in batch], pad_id)
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
    ids = _token_ids(tokenizer, as_sentences(sentences))
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
    sentences = as_sentences(sentences)
    unigram = np.asarray(unigram, dtype=np.float64)
    logprobs = sentence_logprobs(model, tokenizer, sentences, batch_size=batch_size, bf16=bf16)
    ids = scored_token_ids(tokenizer, sentences)
    return {
        "mean_logprob": np.array([mean_logprob(lp) for lp in logprobs], dtype=np.float64),
        "slor": np.array([slor(lp, unigram[tokens]) for lp, tokens in zip(logprobs, ids)], dtype=np.float64),
    }

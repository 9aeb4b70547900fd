"""Tests for cola_workshop.zero_shot: the zero-shot LM acceptability baseline (mean log-prob and SLOR)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import matthews_corrcoef

from cola_workshop.zero_shot import (
    SCORE_NAMES,
    choose_threshold,
    mean_logprob,
    score_sentences,
    scored_token_ids,
    sentence_logprobs,
    slor,
    unigram_logprobs,
    zero_shot_baseline,
)

GPT2_TOKENIZER_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gpt2-tokenizer"

# Toy word-level vocabulary for a tokenizer without BOS, EOS or pad token (only an unk token).
WORDS = ["[UNK]", "the", "cat", "sat", "dog", "ran", "a", "on", "mat", "."]


# --------------------------------------------------------------------------------------------------
# Fixtures: tiny random models, tokenizers built offline
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2_tokenizer():
    if not (GPT2_TOKENIZER_DIR / "vocab.json").is_file():
        pytest.skip("../shared/data/gpt2-tokenizer is absent (only CI and the workshop's dev machines have it)")
    from transformers import GPT2TokenizerFast

    tokenizer = GPT2TokenizerFast.from_pretrained(str(GPT2_TOKENIZER_DIR))
    assert len(tokenizer) == 50257 and tokenizer.bos_token_id == 50256  # not the empty v5 pitfall
    return tokenizer


@pytest.fixture(scope="module")
def gpt2_model(gpt2_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=64, vocab_size=len(gpt2_tokenizer))
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    assert tokenizer.bos_token_id is None and tokenizer.pad_token is None and len(tokenizer) == len(WORDS)
    return tokenizer


@pytest.fixture(scope="module")
def llama_model(word_tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(word_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()


def reference_logprobs(model, ids: list[int]) -> np.ndarray:
    """Unbatched, unpadded: log P(ids[t] | ids[:t]) for t >= 1, straight from log_softmax."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    logprobs = torch.log_softmax(logits[:-1].double(), dim=-1)
    return logprobs.gather(-1, torch.tensor(ids[1:]).unsqueeze(-1)).squeeze(-1).numpy()


# --------------------------------------------------------------------------------------------------
# Mean log-prob and SLOR, by hand
# --------------------------------------------------------------------------------------------------


def test_mean_logprob_and_slor_by_hand():
    # log P_model = -1 + -3 = -4, log P_unigram = -2 + -2 = -4, |s| = 2.
    assert mean_logprob([-1.0, -3.0]) == pytest.approx(-4.0 / 2)  # -2.0
    assert slor([-1.0, -3.0], [-2.0, -2.0]) == pytest.approx((-4.0 - -4.0) / 2)  # 0.0

    # log P_model = -2 + -0.5 + -3.5 = -6, log P_unigram = -4 + -6 + -5 = -15, |s| = 3.
    # mean = -6 / 3 = -2.0; SLOR = (-6 - (-15)) / 3 = 9 / 3 = 3.0: common tokens would have made it lower.
    assert mean_logprob([-2.0, -0.5, -3.5]) == pytest.approx(-2.0)
    assert slor([-2.0, -0.5, -3.5], [-4.0, -6.0, -5.0]) == pytest.approx(3.0)
    # Same model log-probs, frequent tokens (unigram -1 each): SLOR = (-6 - (-3)) / 3 = -1.0.
    assert slor([-2.0, -0.5, -3.5], [-1.0, -1.0, -1.0]) == pytest.approx(-1.0)


def test_empty_and_mismatched_inputs():
    assert math.isnan(mean_logprob([]))
    assert math.isnan(slor([], []))
    with pytest.raises(ValueError):
        slor([-1.0, -2.0], [-1.0])


# --------------------------------------------------------------------------------------------------
# Unigram statistics
# --------------------------------------------------------------------------------------------------


def test_unigram_add_one_smoothing_by_hand(word_tokenizer):
    corpus = ["the cat sat", "the dog", "zebra"]  # "zebra" is not in the vocabulary: [UNK]
    unigram = unigram_logprobs(word_tokenizer, corpus)
    # Counts: the 2, cat 1, sat 1, dog 1, [UNK] 1, others 0. N = 6 tokens, V = 10 types, N + V = 16.
    assert unigram.shape == (10,)
    expected = {"the": 3 / 16, "cat": 2 / 16, "sat": 2 / 16, "dog": 2 / 16, "[UNK]": 2 / 16}
    for word in WORDS:
        probability = expected.get(word, 1 / 16)  # unseen: (0 + 1) / 16, finite
        assert unigram[WORDS.index(word)] == pytest.approx(math.log(probability)), word
    assert np.exp(unigram).sum() == pytest.approx(1.0)


def test_unigram_on_gpt2_tokenizer(gpt2_tokenizer):
    unigram = unigram_logprobs(gpt2_tokenizer, ["the cat", "the dog"])
    the, cat = gpt2_tokenizer("the cat", add_special_tokens=False)["input_ids"]
    # N = 4 tokens ("the", " cat", "the", " dog"), V = 50257.
    assert unigram[the] == pytest.approx(math.log(3 / (4 + 50257)))
    assert unigram[cat] == pytest.approx(math.log(2 / (4 + 50257)))
    assert unigram[0] == pytest.approx(math.log(1 / (4 + 50257)))
    assert np.isfinite(unigram).all()


# --------------------------------------------------------------------------------------------------
# Threshold
# --------------------------------------------------------------------------------------------------


def test_choose_threshold_separable():
    scores = [0.0, -5.0, -1.0, -4.0]
    labels = [1, 0, 1, 0]
    threshold = choose_threshold(scores, labels)
    assert threshold == pytest.approx(-2.5)  # midpoint of -4 and -1
    predictions = (np.array(scores) >= threshold).astype(int)
    assert matthews_corrcoef(labels, predictions) == pytest.approx(1.0)


def test_choose_threshold_ties_pick_the_smallest():
    # Candidates 0 (below min), 1.5, 2.5, 3.5. MCC: 0, 2/sqrt(12), 0, 2/sqrt(12): 1.5 and 3.5 tie.
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    labels = np.array([0, 1, 0, 1])
    assert choose_threshold(scores, labels) == 1.5
    permutation = [3, 0, 2, 1]
    assert choose_threshold(scores[permutation], labels[permutation]) == 1.5
    # No signal at all (all acceptable): every cut gives MCC 0, the one below the minimum wins.
    assert choose_threshold([1.0, 2.0], [1, 1]) == 0.0


def test_choose_threshold_matches_sklearn_brute_force():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=200)
    scores = np.round(rng.normal(size=200) + labels * 0.7, 1)  # rounded: many tied scores
    threshold = choose_threshold(scores, labels)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2])
    mccs = [matthews_corrcoef(labels, (scores >= t).astype(int)) for t in candidates]
    assert threshold == pytest.approx(candidates[int(np.argmax(mccs))])
    assert matthews_corrcoef(labels, (scores >= threshold).astype(int)) == pytest.approx(max(mccs))


def test_choose_threshold_ignores_nan_scores():
    assert choose_threshold([np.nan, -3.0, -1.0], [0, 0, 1]) == pytest.approx(-2.0)
    with pytest.raises(ValueError):
        choose_threshold([np.nan], [1])
    with pytest.raises(ValueError):
        choose_threshold([1.0, 2.0], [0, 2])


# --------------------------------------------------------------------------------------------------
# LM log-probabilities: GPT-2 (BOS) and Llama-style (no BOS, no pad)
# --------------------------------------------------------------------------------------------------

GPT2_SENTENCES = [
    "Hello.",
    "Our friends won't buy this analysis, let alone the next one we propose.",
    "The cat sat.",
    "Him would have been fired by the company, if the manager had ever found out about it.",
]


def test_right_padded_puts_each_row_first_and_masks_the_rest():
    from cola_workshop.lm_scores import right_padded

    input_ids, attention_mask = right_padded([[5, 6, 7], [8], []], pad_id=2)
    assert input_ids.dtype == attention_mask.dtype == torch.long
    assert input_ids.tolist() == [[5, 6, 7], [8, 2, 2], [2, 2, 2]]
    assert attention_mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_gpt2_batched_equals_unbatched(gpt2_model, gpt2_tokenizer):
    batched = sentence_logprobs(gpt2_model, gpt2_tokenizer, GPT2_SENTENCES, batch_size=3)
    ids = scored_token_ids(gpt2_tokenizer, GPT2_SENTENCES)
    lengths = []
    for sentence, logprobs, scored in zip(GPT2_SENTENCES, batched, ids):
        tokens = gpt2_tokenizer(sentence, add_special_tokens=False)["input_ids"]
        # BOS (<|endoftext|>) conditions the first token: every token is scored.
        assert scored.tolist() == tokens
        assert logprobs.shape == (len(tokens),)
        expected = reference_logprobs(gpt2_model, [gpt2_tokenizer.bos_token_id, *tokens])
        np.testing.assert_allclose(logprobs, expected, atol=1e-5, rtol=0)
        assert (logprobs < 0).all()
        lengths.append(len(tokens))
    assert len(set(lengths)) == len(lengths)  # really padded: all lengths differ
    one_by_one = sentence_logprobs(gpt2_model, gpt2_tokenizer, GPT2_SENTENCES, batch_size=1)
    for a, b in zip(batched, one_by_one):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_gpt2_blockwise_output_layer_equals_full_logits(gpt2_model, gpt2_tokenizer, monkeypatch):
    from cola_workshop import lm_scores

    # 24 sentences of 6-19 tokens in one batch: over 256 scored positions, so several row blocks, and GPT-2's
    # 50,257 columns in 7 vocabulary blocks.
    sentences = [GPT2_SENTENCES[i % 4] + " " + GPT2_SENTENCES[(i + 1) % 4] for i in range(24)]
    assert lm_scores._plain_head(gpt2_model) is gpt2_model.lm_head.weight
    blockwise = sentence_logprobs(gpt2_model, gpt2_tokenizer, sentences, batch_size=24)
    assert sum(len(x) for x in blockwise) > lm_scores._ROWS
    monkeypatch.setattr(lm_scores, "_plain_head", lambda model: None)  # the model's own forward and logits
    full = sentence_logprobs(gpt2_model, gpt2_tokenizer, sentences, batch_size=24)
    for a, b in zip(blockwise, full):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_gpt2_in_bf16_scores_close_to_fp32(gpt2_model, gpt2_tokenizer):
    import copy

    half = copy.deepcopy(gpt2_model).to(torch.bfloat16)
    fp32 = np.concatenate(sentence_logprobs(gpt2_model, gpt2_tokenizer, GPT2_SENTENCES))
    bf16 = np.concatenate(sentence_logprobs(half, gpt2_tokenizer, GPT2_SENTENCES))
    assert bf16.dtype == np.float64 and np.isfinite(bf16).all()
    assert np.abs(bf16 - fp32).mean() < 0.02  # bf16 weights round, the reductions stay in float32


def test_gpt2_in_bf16_autocast_scores_close_to_fp32_and_leaves_the_model_in_fp32(gpt2_model, gpt2_tokenizer):
    fp32 = np.concatenate(sentence_logprobs(gpt2_model, gpt2_tokenizer, GPT2_SENTENCES))
    autocast = np.concatenate(sentence_logprobs(gpt2_model, gpt2_tokenizer, GPT2_SENTENCES, bf16=True))
    assert autocast.dtype == np.float64 and np.isfinite(autocast).all()
    assert np.abs(autocast - fp32).mean() < 0.02  # products round to bf16; the log-softmax stays in float32
    assert not np.array_equal(autocast, fp32), "bf16 autocast did not run"
    assert next(gpt2_model.parameters()).dtype == torch.float32


def test_gpt2_tokenizer_and_model_left_as_they_were(gpt2_model, gpt2_tokenizer):
    assert gpt2_tokenizer.pad_token is None
    gpt2_model.train()
    sentence_logprobs(gpt2_model, gpt2_tokenizer, GPT2_SENTENCES[:2])
    assert gpt2_tokenizer.pad_token is None and gpt2_tokenizer.pad_token_id is None
    assert len(gpt2_tokenizer) == 50257
    assert gpt2_model.training  # mode restored
    gpt2_model.eval()


def test_llama_without_bos_or_pad(llama_model, word_tokenizer):
    sentences = ["the cat sat on the mat .", "dog", "a dog ran", "the the cat"]
    batched = sentence_logprobs(llama_model, word_tokenizer, sentences, batch_size=4)
    ids = scored_token_ids(word_tokenizer, sentences)
    for sentence, logprobs, scored in zip(sentences, batched, ids):
        tokens = word_tokenizer(sentence, add_special_tokens=False)["input_ids"]
        # No BOS: the first token has no context, scoring starts at the second one.
        assert scored.tolist() == tokens[1:]
        assert logprobs.shape == (len(tokens) - 1,)
        if len(tokens) > 1:
            np.testing.assert_allclose(logprobs, reference_logprobs(llama_model, tokens), atol=1e-5, rtol=0)
    assert batched[1].size == 0  # "dog": one token, nothing scored
    assert word_tokenizer.pad_token is None and word_tokenizer.bos_token is None  # not modified

    unigram = unigram_logprobs(word_tokenizer, sentences)
    scores = score_sentences(llama_model, word_tokenizer, sentences, unigram, batch_size=2)
    assert set(scores) == set(SCORE_NAMES)
    assert scores["mean_logprob"][0] == pytest.approx(batched[0].mean())
    assert scores["slor"][0] == pytest.approx(batched[0].mean() - unigram[ids[0]].mean())
    assert math.isnan(scores["slor"][1]) and math.isnan(scores["mean_logprob"][1])


# --------------------------------------------------------------------------------------------------
# The whole baseline
# --------------------------------------------------------------------------------------------------


def test_zero_shot_baseline_fits_on_train_only(llama_model, word_tokenizer):
    train = ["the cat sat", "cat the sat", "a dog ran", "ran dog a", "the dog sat on the mat .", "mat the on"]
    train_labels = [1, 0, 1, 0, 1, 0]
    evaluation = ["the cat ran", "sat cat the", "a cat sat on a mat .", "dog"]
    eval_labels = [1, 0, 1, 0]

    result = zero_shot_baseline(llama_model, word_tokenizer, train, train_labels, evaluation, eval_labels)
    json.dumps(result, allow_nan=False)  # cacheable as JSON as it is
    assert result["n_train"] == result["n_train_scored"] == 6 and result["n_eval"] == 4
    assert result["first_token_conditioned_on_bos"] is False
    assert set(result["metrics"]) == set(SCORE_NAMES)
    assert result["eval"]["sentence"] == evaluation and result["eval"]["label"] == eval_labels
    assert result["eval"]["slor"][3] is None  # one token without BOS: no score ...
    assert result["eval"]["pred_slor"][3] == 0  # ... predicted unacceptable

    unigram = unigram_logprobs(word_tokenizer, train)  # train only
    train_scores = score_sentences(llama_model, word_tokenizer, train, unigram)
    eval_scores = score_sentences(llama_model, word_tokenizer, evaluation, unigram)
    for name in SCORE_NAMES:
        metrics = result["metrics"][name]
        assert metrics["threshold"] == choose_threshold(train_scores[name], train_labels)
        predictions = (eval_scores[name] >= metrics["threshold"]).astype(int)
        assert result["eval"][f"pred_{name}"] == predictions.tolist()
        assert metrics["eval_mcc"] == pytest.approx(matthews_corrcoef(eval_labels, predictions))
        assert metrics["eval_accuracy"] == pytest.approx(np.mean(predictions == np.array(eval_labels)))
        train_predictions = (train_scores[name] >= metrics["threshold"]).astype(int)
        assert metrics["train_mcc"] == pytest.approx(matthews_corrcoef(train_labels, train_predictions))
        np.testing.assert_allclose(
            [np.nan if v is None else v for v in result["eval"][name]], eval_scores[name], atol=1e-9
        )

    # Evaluation labels only change the reported metrics, never the fitted thresholds.
    flipped = zero_shot_baseline(
        llama_model, word_tokenizer, train, train_labels, evaluation, [1 - y for y in eval_labels]
    )
    for name in SCORE_NAMES:
        assert flipped["metrics"][name]["threshold"] == result["metrics"][name]["threshold"]
        assert flipped["metrics"][name]["eval_mcc"] == pytest.approx(-result["metrics"][name]["eval_mcc"])

    subset = zero_shot_baseline(
        llama_model, word_tokenizer, train, train_labels, evaluation, eval_labels, max_train=4, seed=1
    )
    assert subset["n_train"] == 6 and subset["n_train_scored"] == 4
    again = zero_shot_baseline(
        llama_model, word_tokenizer, train, train_labels, evaluation, eval_labels, max_train=4, seed=1
    )
    assert again == subset  # deterministic


def test_zero_shot_baseline_on_gpt2(gpt2_model, gpt2_tokenizer):
    train = GPT2_SENTENCES
    evaluation = ["The dog ran.", "Dog the ran."]
    result = zero_shot_baseline(gpt2_model, gpt2_tokenizer, train, [1, 1, 1, 0], evaluation, [1, 0])
    json.dumps(result, allow_nan=False)
    assert result["first_token_conditioned_on_bos"] is True
    assert all(v is not None for name in SCORE_NAMES for v in result["eval"][name])
    assert gpt2_tokenizer.pad_token is None

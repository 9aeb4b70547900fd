"""The check cells of notebooks 01-03 fail for a wrong answer, with a hint, and pass for a correct one.

Each test reads a check cell's source from the committed notebook (by its place among the cells tagged
``check``, or by a phrase of a body check) and runs it with ``exec`` in a namespace that holds only what the
check reads: small made-up objects, or the tiny profile's model and tokenizer (``data/tiny-gpt2``, a second to
load). No kernel starts, so the tests take a few seconds.
"""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import matthews_corrcoef

from cola_workshop.settings import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
TINY_MODEL = REPO_ROOT / "data" / "tiny-gpt2"
PAIR = ["The children were singing in the garden.", "The children was singing the garden in."]


def cells(notebook: str) -> list[dict]:
    return json.loads((NOTEBOOKS / notebook).read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def check_cell(notebook: str, exercise: int) -> str:
    """The source of the check cell of exercise ``exercise`` (1-based) of ``notebook``."""
    checks = [source(c) for c in cells(notebook) if "check" in c.get("metadata", {}).get("tags", [])]
    return checks[exercise - 1]


def body_cell(notebook: str, phrase: str) -> str:
    """The source of the one code cell of ``notebook`` that contains ``phrase``."""
    found = [source(c) for c in cells(notebook) if c["cell_type"] == "code" and phrase in source(c)]
    assert len(found) == 1, f"{len(found)} code cells of {notebook} contain {phrase!r}"
    return found[0]


def run(code: str, **namespace) -> dict:
    exec(compile(code, "<check cell>", "exec"), namespace)  # noqa: S102 - the notebook's own check cell
    return namespace


def fails(code: str, hint: str, **namespace) -> None:
    """The check stops with an AssertionError whose message contains ``hint``."""
    with pytest.raises(AssertionError) as error:
        run(code, **namespace)
    assert hint in str(error.value), str(error.value)


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(TINY_MODEL).eval(), AutoTokenizer.from_pretrained(TINY_MODEL)


# --------------------------------------------------------------------------------------------------
# 01, exercise 2: the SLOR rule and its MCC, as functions
# --------------------------------------------------------------------------------------------------


def slor_rule(scores, threshold):
    return [int(score is not None and score >= threshold) for score in scores]


def slor_mcc(scores, labels, threshold):
    return matthews_corrcoef(labels, slor_rule(scores, threshold))


SCORES, LABELS = [0.1, 2.0, None, 3.5, 1.0, 2.2], [0, 1, 0, 1, 1, 0]
MADE_UP_BASELINE = {
    "eval": {"slor": SCORES, "label": LABELS},
    "metrics": {"slor": {"threshold": 1.5, "eval_mcc": slor_mcc(SCORES, LABELS, 1.5)}},
}


@pytest.mark.parametrize("zero_shot", [MADE_UP_BASELINE, None], ids=["decoder", "encoder"])
def test_01_exercise_2_passes_a_correct_rule(zero_shot, capsys):
    run(check_cell("01_goal.ipynb", 2), slor_rule=slor_rule, slor_mcc=slor_mcc, zero_shot=zero_shot)
    assert capsys.readouterr().out.startswith("Correct:")


def test_01_exercise_2_fails_an_mcc_copied_from_the_table():
    copied = MADE_UP_BASELINE["metrics"]["slor"]["eval_mcc"]
    fails(check_cell("01_goal.ipynb", 2), "define two functions",
          slor_rule=slor_rule, slor_mcc=copied, zero_shot=MADE_UP_BASELINE)
    fails(check_cell("01_goal.ipynb", 2), "not the MCC of the rule",
          slor_rule=slor_rule, slor_mcc=lambda scores, labels, threshold: copied, zero_shot=MADE_UP_BASELINE)


def test_01_exercise_2_fails_a_strict_or_unrelated_rule():
    def strict(scores, threshold):
        return [int(score is not None and score > threshold) for score in scores]

    fails(check_cell("01_goal.ipynb", 2), "slor_rule: 1 when the score is >=",
          slor_rule=strict, slor_mcc=slor_mcc, zero_shot=MADE_UP_BASELINE)

    def accuracy_instead(scores, labels, threshold):
        predictions = slor_rule(scores, threshold)
        return sum(p == y for p, y in zip(predictions, labels)) / len(labels)

    fails(check_cell("01_goal.ipynb", 2), "not the MCC of the rule",
          slor_rule=slor_rule, slor_mcc=accuracy_instead, zero_shot=MADE_UP_BASELINE)
    fails(check_cell("01_goal.ipynb", 2), "define two functions", slor_rule=None, slor_mcc=None, zero_shot=None)


# --------------------------------------------------------------------------------------------------
# 01, exercise 3: the minimal pair, scored by hand
# --------------------------------------------------------------------------------------------------


def mean_logprob_by_hand(model, tokenizer, sentence: str) -> float:
    import torch

    tokens = tokenizer(sentence, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([[tokenizer.bos_token_id] + tokens])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids).logits[0, :-1], dim=-1)
    return log_probs.gather(1, ids[0, 1:, None]).mean().item()


def test_01_exercise_3_passes_the_pair_scored_by_hand(tiny, capsys):
    model, tokenizer = tiny
    scores = {sentence: mean_logprob_by_hand(model, tokenizer, sentence) for sentence in PAIR}
    run(check_cell("01_goal.ipynb", 3), decoder=True, pair_scores=scores, base_model=model, tokenizer=tokenizer)
    assert capsys.readouterr().out.startswith("Correct:")


def test_01_exercise_3_fails_any_other_two_sentences(tiny):
    model, tokenizer = tiny
    others = ["The cat sat on the mat.", "Mat the on sat cat the."]
    scores = {sentence: mean_logprob_by_hand(model, tokenizer, sentence) for sentence in others}
    fails(check_cell("01_goal.ipynb", 3), "exactly the two sentences of the pair",
          decoder=True, pair_scores=scores, base_model=model, tokenizer=tokenizer)
    one_more = {**scores, **{sentence: mean_logprob_by_hand(model, tokenizer, sentence) for sentence in PAIR}}
    fails(check_cell("01_goal.ipynb", 3), "exactly the two sentences of the pair",
          decoder=True, pair_scores=one_more, base_model=model, tokenizer=tokenizer)


def test_01_exercise_3_fails_a_sum_instead_of_a_mean(tiny):
    model, tokenizer = tiny
    summed = {}
    for sentence in PAIR:
        n = len(tokenizer(sentence, add_special_tokens=False)["input_ids"])
        summed[sentence] = n * mean_logprob_by_hand(model, tokenizer, sentence)
    fails(check_cell("01_goal.ipynb", 3), "not its mean log-probability",
          decoder=True, pair_scores=summed, base_model=model, tokenizer=tokenizer)
    fails(check_cell("01_goal.ipynb", 3), "store {sentence: mean log-probability}",
          decoder=True, pair_scores=None, base_model=model, tokenizer=tokenizer)


# --------------------------------------------------------------------------------------------------
# 01, body: the saved zero-shot predictions are the threshold rule's (notebook 06 reads them)
# --------------------------------------------------------------------------------------------------


def saved_baseline(scores, labels, threshold):
    predictions = slor_rule(scores, threshold)
    metrics = {"threshold": threshold, "eval_mcc": matthews_corrcoef(labels, predictions)}
    return {"eval": {"label": labels, "slor": scores, "pred_slor": predictions}, "metrics": {"slor": metrics}}


def test_01_body_check_of_the_saved_baseline_passes_and_fails():
    code = body_cell("01_goal.ipynb", "the predictions are not the threshold rule's")
    scores, labels = [0.1, 2.0, None, 3.5, 1.0], [0, 1, 0, 1, 0]
    good = saved_baseline(scores, labels, 1.5)
    run(code, zero_shot=good, validation=list(range(5)))
    run(code, zero_shot=None, validation=list(range(5)))
    flipped = json.loads(json.dumps(good))
    flipped["eval"]["pred_slor"] = [1 - p for p in flipped["eval"]["pred_slor"]]
    fails(code, "not the threshold rule's", zero_shot=flipped, validation=list(range(5)))
    wrong_mcc = json.loads(json.dumps(good))
    wrong_mcc["metrics"]["slor"]["eval_mcc"] = 0.0
    fails(code, "MCC", zero_shot=wrong_mcc, validation=list(range(5)))
    fails(code, "one each", zero_shot=good, validation=list(range(6)))


def baseline_with_auc(scores, labels, threshold, auc):
    baseline = saved_baseline(scores, labels, threshold)
    baseline["eval"]["mean_logprob"], baseline["eval"]["pred_mean_logprob"] = scores, baseline["eval"]["pred_slor"]
    for name in ("mean_logprob", "slor"):
        baseline["metrics"][name] = {**baseline["metrics"]["slor"], "eval_roc_auc": auc}
    return baseline


def test_01_collapse_sentence_says_when_the_rule_is_a_constant(capsys):
    code = body_cell("01_goal.ipynb", "(a constant)")
    scores, labels = [0.1, 2.0, 3.5, 1.0], [0, 1, 1, 0]
    for threshold, expected in ((9.0, "predicts only 'unacceptable' (a constant)"), (1.5, "predicts both classes")):
        run(code, zero_shot=baseline_with_auc(scores, labels, threshold, 1.0))
        out = capsys.readouterr().out
        assert out.count(expected) == 2 and out.count("its ranking is above chance") == 2, out


@pytest.mark.parametrize(("auc", "verdict"), [(0.43, "within chance"), (0.62, "above chance"), (0.38, "below chance")])
def test_01_chance_sentence_follows_the_roc_auc_interval(auc, verdict, capsys):
    """With CoLA-like class sizes (136 acceptable, 64 not, the tiny validation split) a ROC-AUC of 0.43 is within
    chance: its 95% interval, about 0.34 to 0.52, holds 0.5; 0.62 and 0.38 lie outside."""
    code = body_cell("01_goal.ipynb", "(a constant)")
    labels = [1] * 136 + [0] * 64
    run(code, zero_shot=baseline_with_auc([float(i) for i in range(200)], labels, 50.0, auc))
    out = capsys.readouterr().out
    assert out.count(f"its ranking is {verdict} (ROC-AUC {auc:.2f}, 95% interval") == 2, out
    low, high = (float(x) for x in out.split("95% interval ")[1].split(")")[0].split(" to "))
    assert low < auc < high and (low <= 0.5 <= high) == (verdict == "within chance")


def test_01_roc_auc_interval_agrees_with_a_bootstrap():
    """Hanley & McNeil's interval, as notebook 01 computes it, is about as wide as a bootstrap percentile interval."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    namespace = run(body_cell("01_goal.ipynb", "(a constant)"), zero_shot=None)
    rng = np.random.default_rng(0)
    labels = np.array([1] * 136 + [0] * 64)
    scores = rng.normal(0.4 * labels, 1.0)
    auc = roc_auc_score(labels, scores)
    low, high = namespace["auc_interval"](auc, 136, 64)
    draws = rng.integers(0, 200, size=(1000, 200))
    boot = [roc_auc_score(labels[d], scores[d]) for d in draws if 0 < labels[d].sum() < 200]
    boot_low, boot_high = np.percentile(boot, [2.5, 97.5])
    assert abs(low - boot_low) < 0.02 and abs(high - boot_high) < 0.02, (low, high, boot_low, boot_high)


# --------------------------------------------------------------------------------------------------
# 02 and 03: exercises whose checks recompute from the learner's own choice
# --------------------------------------------------------------------------------------------------


def committed_validation():
    """The tiny profile's validation labels as notebook 02 reads them: in-domain rows first (100 + 100, 68% of each
    acceptable, so the whole split's share is also each part's)."""
    import pandas as pd

    raw = REPO_ROOT / "data" / "cola_tiny" / "raw"
    parts = [pd.read_csv(raw / name, sep="\t", header=None, quoting=3, names=["source", "label", "mark", "sentence"])
             for name in ("in_domain_dev.tsv", "out_of_domain_dev.tsv")]
    return pd.concat(parts, ignore_index=True)[["sentence", "label"]], len(parts[0])


def reference_part_shares(labels, n_in_domain):
    return {"in-domain": labels[:n_in_domain].mean(), "out-of-domain": labels[n_in_domain:].mean()}


def test_02_exercise_1_passes_any_correct_way_of_computing_the_shares(capsys):
    frame, n = committed_validation()
    assert reference_part_shares(frame["label"], n) == {"in-domain": 0.68, "out-of-domain": 0.68}

    def by_counting(labels, n_in_domain):
        labels = list(labels)
        first, rest = labels[:n_in_domain], labels[n_in_domain:]
        return {"out-of-domain": rest.count(1) / len(rest), "in-domain": first.count(1) / len(first)}

    for answer in (reference_part_shares, by_counting):
        run(check_cell("02_exploration.ipynb", 1), frames={"validation": frame}, n_in_domain=n, part_shares=answer)
        assert capsys.readouterr().out.startswith("Correct: in-domain 68.0% acceptable, out-of-domain 68.0%")


def test_02_exercise_1_fails_the_whole_split_share():
    frame, n = committed_validation()

    def whole_split(labels, n_in_domain):
        return {"in-domain": labels.mean(), "out-of-domain": labels.mean()}

    fails(check_cell("02_exploration.ipynb", 1), "the in-domain share is not right",
          frames={"validation": frame}, n_in_domain=n, part_shares=whole_split)


def test_02_exercise_1_fails_swapped_parts():
    frame, n = committed_validation()

    def swapped(labels, n_in_domain):
        return {"in-domain": labels[n_in_domain:].mean(), "out-of-domain": labels[:n_in_domain].mean()}

    fails(check_cell("02_exploration.ipynb", 1), "the in-domain share is not right",
          frames={"validation": frame}, n_in_domain=n, part_shares=swapped)


def test_02_exercise_1_fails_a_split_point_other_than_the_argument_and_a_stub():
    frame, n = committed_validation()

    def this_runs_split(labels, n_in_domain):  # the notebook's n_in_domain, whatever the argument
        return reference_part_shares(labels, n)

    fails(check_cell("02_exploration.ipynb", 1), "share is not right",
          frames={"validation": frame}, n_in_domain=n, part_shares=this_runs_split)
    fails(check_cell("02_exploration.ipynb", 1), "define a function part_shares",
          frames={"validation": frame}, n_in_domain=n, part_shares=None)
    fails(check_cell("02_exploration.ipynb", 1), "two keys",
          frames={"validation": frame}, n_in_domain=n, part_shares=lambda labels, n_in_domain: {"all": 0.68})


def test_02_exercise_3_needs_the_best_length_rule():
    import pandas as pd

    train = pd.DataFrame({"label": [1, 1, 0, 0, 1, 0], "words": [3, 8, 2, 7, 9, 4]})
    rules = {k: matthews_corrcoef(train["label"], train["words"] >= k) for k in range(1, 11)}
    best = max(rules, key=rules.get)
    run(check_cell("02_exploration.ipynb", 3), train=train, length_rule=(best, rules[best]))
    worse = next(k for k in rules if rules[k] < rules[best] - 0.01)
    fails(check_cell("02_exploration.ipynb", 3), "another k gives a higher MCC",
          train=train, length_rule=(worse, rules[worse]))
    fails(check_cell("02_exploration.ipynb", 3), "the rule's MCC is not",
          train=train, length_rule=(best, rules[best] + 0.1))


def test_03_exercise_3_needs_the_last_real_positions(tiny):
    import torch

    _, tokenizer = tiny
    pad = tokenizer.eos_token_id
    batch = {"input_ids": torch.tensor([[5, 6, 7, pad, pad], [5, 6, 7, 8, 9], [5, pad, pad, pad, pad]])}
    batch["attention_mask"] = (batch["input_ids"] != pad).long()

    class Padded:  # what the check reads of the tokenizer
        pad_token_id = pad

    run(check_cell("03_preprocessing.ipynb", 3), batch=batch, tokenizer=Padded, last_real=[2, 4, 0])
    fails(check_cell("03_preprocessing.ipynb", 3), "not the last real tokens",
          batch=batch, tokenizer=Padded, last_real=[3, 5, 1])  # lengths, not positions

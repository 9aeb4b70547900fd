"""Notebook 06's exercise checks: any correct answer passes, the usual wrong ones fail.

The check cells and reference solutions are read from the committed notebook and run here on made-up data, with the
names the notebook defines before them (``mcc_of_rows`` from its section 4, ``acceptable`` from its section 3, and a
made-up ``classifier`` that answers as the pipeline does). Milliseconds to seconds: no model, no kernel.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_usage.ipynb"


def _cells():
    return {cell.get("id"): "".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"]}


def _tagged_cells():
    """(tags, source) of every cell of the committed notebook."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return [(cell["metadata"].get("tags", []), "".join(cell["source"])) for cell in cells]


def _exercise_3():
    """(the solution cell, the check cell) of exercise 3: the last solution and check cells of the notebook."""
    tagged = _tagged_cells()
    solution = [source for tags, source in tagged if "solution" in tags][-1]
    check = [source for tags, source in tagged if "check" in tags][-1]
    assert "difference_interval" in solution and "difference_interval" in check
    return solution, check


def _mcc_of_rows():
    """The notebook's own vectorised MCC, defined in section 4 (the cell that starts with its def)."""
    source = next(s for s in _cells().values() if s.startswith("def mcc_of_rows"))
    namespace = {"np": np}
    exec(source.split("\n\n\nfor ")[0], namespace)
    return namespace["mcc_of_rows"]


@pytest.fixture
def namespace():
    """What the notebook holds when exercise 3 runs, on 200 made-up validation sentences: the first 100 are
    in-domain, where the made-up model is right more often (a real gap, so that swapping the groups shows)."""
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 200)
    knows = rng.random(200) < np.where(np.arange(200) < 100, 0.8, 0.2)
    fine = np.where(knows, labels, rng.integers(0, 2, 200))
    return {"np": np, "matthews_corrcoef": matthews_corrcoef, "labels": labels, "n_in_domain": 100,
            "predictions": {"fine-tuned": fine}, "settings": SimpleNamespace(seed=42),
            "mcc_of_rows": _mcc_of_rows()}


def _run_check(namespace):
    _, check = _exercise_3()
    exec(check, namespace)


def _with_answer(namespace, function):
    labels, fine, n = namespace["labels"], namespace["predictions"]["fine-tuned"], namespace["n_in_domain"]
    namespace["difference_interval"] = function
    namespace["domain_interval"] = function((labels[:n], fine[:n]), (labels[n:], fine[n:]))
    return namespace


def test_the_reference_solution_passes(namespace, capsys):
    solution, _ = _exercise_3()
    exec(solution, namespace)
    _run_check(namespace)
    assert capsys.readouterr().out.splitlines()[-1].startswith("Correct: in-domain minus out-of-domain MCC lies")


def test_the_stub_fails_with_a_hint(namespace):
    namespace.update(difference_interval=None, domain_interval=None)
    with pytest.raises(AssertionError, match="write difference_interval"):
        _run_check(namespace)


def _percentiles(differences):
    return tuple(np.percentile(differences, [2.5, 97.5]))


def independent(a, b, resamples=2000, seed=42):
    """The common bug: labels and predictions drawn with separate indices, so a label loses its prediction."""
    rng, mcc_of_rows = np.random.default_rng(seed), _mcc_of_rows()
    mccs = []
    for labels, predictions in (a, b):
        shape = (resamples, len(labels))
        mccs.append(mcc_of_rows(labels[rng.integers(0, len(labels), shape)],
                                predictions[rng.integers(0, len(labels), shape)]))
    return _percentiles(mccs[0] - mccs[1])


def test_a_bootstrap_that_resamples_labels_and_predictions_independently_fails(namespace):
    with pytest.raises(AssertionError, match="keep each label with its own prediction"):
        _run_check(_with_answer(namespace, independent))


def test_a_bootstrap_without_a_new_draw_each_time_fails(namespace):
    def same_rows(a, b, resamples=2000, seed=42):
        rows = [np.random.default_rng(seed).integers(0, len(labels), len(labels)) for labels, _ in (a, b)]
        once = matthews_corrcoef(a[0][rows[0]], a[1][rows[0]]) - matthews_corrcoef(b[0][rows[1]], b[1][rows[1]])
        return once, once

    with pytest.raises(AssertionError, match="a new draw of sentences in every resample"):
        _run_check(_with_answer(namespace, same_rows))


def test_an_interval_of_the_wrong_groups_fails(namespace):
    solution, _ = _exercise_3()
    exec(solution, namespace)
    low, high = namespace["domain_interval"]
    namespace["domain_interval"] = (-high, -low)  # out-of-domain minus in-domain
    with pytest.raises(AssertionError, match="not difference_interval"):
        _run_check(namespace)


def test_another_correct_bootstrap_passes(namespace, capsys):
    """A loop, MCC as the correlation of two 0/1 columns, fewer resamples, its own seed: any correct way passes."""

    def with_a_loop(a, b, resamples=1000, seed=0):
        rng = np.random.default_rng(seed)
        differences = []
        for _ in range(resamples):
            mccs = []
            for labels, predictions in (a, b):
                rows = rng.integers(0, len(labels), len(labels))
                mccs.append(np.corrcoef(labels[rows], predictions[rows])[0, 1])
            differences.append(mccs[0] - mccs[1])
        return _percentiles(differences)

    _run_check(_with_answer(namespace, with_a_loop))
    assert capsys.readouterr().out.startswith("Correct:")


def test_the_notebooks_vectorised_mcc_agrees_with_scikit_learn_on_every_row_even_0_over_0():
    """Section 4's bootstrap scores 10,000 resamples at once with mcc_of_rows: it must be scikit-learn's MCC."""
    mcc_of_rows = _mcc_of_rows()
    rng = np.random.default_rng(3)
    truth, predicted = rng.integers(0, 2, (50, 40)), rng.integers(0, 2, (50, 40))
    truth[0], predicted[1], predicted[2] = 1, 0, truth[2]  # one label only; one prediction only; perfect
    expected = [matthews_corrcoef(t, p) for t, p in zip(truth, predicted)]
    assert np.allclose(mcc_of_rows(truth, predicted), expected, atol=1e-12)
    assert mcc_of_rows(truth, predicted)[[0, 1, 2]].tolist() == [0.0, 0.0, 1.0]


def _exercise_2():
    """(the solution cell, the check cell) of exercise 2, the threshold that maximises validation MCC."""
    tagged = _tagged_cells()
    solution = next(source for tags, source in tagged if "solution" in tags and "best_threshold" in source)
    check = next(source for tags, source in tagged if "check" in tags and "best_threshold" in source)
    return solution, check


@pytest.fixture
def threshold_namespace():
    """Made-up probabilities of 'acceptable' for 300 sentences, informative enough that 0.5 is not the best cut."""
    import pandas as pd

    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, 300)
    p_fine = np.clip(0.2 + 0.25 * labels + rng.normal(0, 0.2, 300), 0, 1)
    at_half = matthews_corrcoef(labels, p_fine >= 0.5)
    return {"np": np, "matthews_corrcoef": matthews_corrcoef, "labels": labels, "mcc_of_rows": _mcc_of_rows(),
            "p_fine": p_fine,
            "comparison": pd.DataFrame({"MCC": [at_half]}, index=["fine-tuned"])}


def test_exercise_2_takes_the_reference_solution_and_another_correct_one(threshold_namespace, capsys):
    solution, check = _exercise_2()
    exec(solution, threshold_namespace)
    exec(check, threshold_namespace)
    assert "Correct:" in capsys.readouterr().out
    reference = threshold_namespace["best_threshold_mcc"]
    p_fine, labels = threshold_namespace["p_fine"], threshold_namespace["labels"]
    # a plain loop with scikit-learn, the way a learner may write it, finds the same MCC and passes too
    mccs = {float(t): matthews_corrcoef(labels, p_fine >= t) for t in np.unique(p_fine)}
    loop_best = max(mccs, key=mccs.get)
    threshold_namespace.update(best_threshold=loop_best, best_threshold_mcc=mccs[loop_best])
    exec(check, threshold_namespace)
    assert abs(mccs[loop_best] - reference) < 1e-9
    assert reference > threshold_namespace["comparison"].loc["fine-tuned", "MCC"] + 0.01  # 0.5 was not the best


@pytest.mark.parametrize("answer, hint", [
    ("stub", "store best_threshold and its MCC"),
    ("half", "another threshold gives a higher MCC"),
    ("wrong mcc", "not the MCC of that rule"),
])
def test_exercise_2_check_fails_the_usual_wrong_answers(threshold_namespace, answer, hint):
    _, check = _exercise_2()
    labels, p_fine = threshold_namespace["labels"], threshold_namespace["p_fine"]
    threshold_namespace.update({
        "stub": dict(best_threshold=None, best_threshold_mcc=None),
        "half": dict(best_threshold=0.5, best_threshold_mcc=matthews_corrcoef(labels, p_fine >= 0.5)),
        "wrong mcc": dict(best_threshold=0.5, best_threshold_mcc=0.99),
    }[answer])
    with pytest.raises(AssertionError, match=hint):
        exec(check, threshold_namespace)


# --------------------------------------------------------------------------------------------------
# Exercise 1: a minimal pair
# --------------------------------------------------------------------------------------------------


def _exercise_1():
    """(the solution cell, the check cell) of exercise 1, the learner's own minimal pair."""
    tagged = _tagged_cells()
    solution = next(source for tags, source in tagged if "solution" in tags and "my_pair" in source)
    check = next(source for tags, source in tagged if "check" in tags and "my_pair" in source)
    return solution, check


def _acceptable():
    """Section 3's helper that reads P(acceptable) from the pipeline's results (the cell's def, alone)."""
    source = next(s for s in _cells().values() if "def acceptable(results)" in s)
    namespace = {}
    exec("def acceptable" + source.split("def acceptable", 1)[1].split("\n\n\n")[0], namespace)
    return namespace["acceptable"]


def _made_up_classifier(sentences, **kwargs):
    """What pipeline("text-classification", top_k=None) returns for a list, with a made-up P(acceptable)."""
    results = []
    for sentence in sentences:
        p = 0.05 + 0.9 * (zlib.crc32(sentence.encode()) % 1000) / 1000
        results.append([{"label": "acceptable", "score": p}, {"label": "unacceptable", "score": 1 - p}])
    return results


@pytest.fixture
def pair_namespace():
    return {"classifier": _made_up_classifier, "acceptable": _acceptable()}


def _check_pair(namespace, first, second):
    _, check = _exercise_1()
    pair = [first, second]
    namespace["my_pair"] = dict(zip(pair, namespace["acceptable"](_made_up_classifier(pair))))
    exec(check, namespace)


def test_exercise_1_takes_the_reference_solution(pair_namespace, capsys):
    solution, check = _exercise_1()
    exec(solution, pair_namespace)
    exec(check, pair_namespace)
    assert capsys.readouterr().out.splitlines()[-1].startswith("Correct: the model prefers")


@pytest.mark.parametrize("first, second", [
    ("The dogs bark.", "The dogs barks."),  # one word changed
    ("The dogs bark loudly.", "The dogs bark."),  # one word removed, the full stop moving with it
    ("She read the book.", "She read the the book."),  # one word added
    ("Who did you see?", "Who you did see?"),  # two neighbouring words swapped
    ("The cat chased the mouse.", "The mouse chased the cat."),  # two words swapped, apart
    ("The dogs bark.", "the dogs barks"),  # case and punctuation aside
    ("I don't know him.", "I don't knows him."),  # contractions stay one word
])
def test_exercise_1_takes_any_minimal_pair(pair_namespace, capsys, first, second):
    _check_pair(pair_namespace, first, second)
    assert capsys.readouterr().out.startswith("Correct:")


@pytest.mark.parametrize("first, second", [
    ("The children were singing in the garden.", "Colourless green ideas sleep furiously."),  # two sentences
    ("The dogs bark.", "The dogs bark!"),  # no word changed
    ("The children were singing in the garden.", "The children was singing the garden in."),  # two edits
    ("The dogs bark.", "The cats barks."),  # two words changed
])
def test_exercise_1_check_fails_two_sentences_that_are_not_a_minimal_pair(pair_namespace, first, second):
    with pytest.raises(AssertionError, match="one small edit"):
        _check_pair(pair_namespace, first, second)


def test_exercise_1_check_fails_the_stub_and_probabilities_not_from_classifier(pair_namespace):
    _, check = _exercise_1()
    pair_namespace["my_pair"] = None
    with pytest.raises(AssertionError, match="store"):
        exec(check, pair_namespace)
    pair_namespace["my_pair"] = {"The dogs bark.": 0.9, "The dogs barks.": 0.1}
    with pytest.raises(AssertionError, match="not classifier's P"):
        exec(check, pair_namespace)

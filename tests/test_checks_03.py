"""Notebook 03's exercise checks: a wrong answer fails with a hint, the reference and other correct answers pass.

Like ``test_checks_01_03.py``: each check cell's source is read from the committed notebook and run with ``exec`` in a
namespace holding what it reads (GPT-2's real tokenizer from ``data/tiny-gpt2``); no kernel starts.
"""

from __future__ import annotations

import json

import pytest

from cola_workshop.settings import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "03_preprocessing.ipynb"


def cells(tag: str) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"]
            if tag in cell.get("metadata", {}).get("tags", [])]


def check(exercise: int) -> str:
    return cells("check")[exercise - 1]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(REPO_ROOT / "data" / "tiny-gpt2")


def answer(tokenizer, word: str, misspelling: str) -> dict:
    return {"tokenizer": tokenizer, "correct_tokens": tokenizer.tokenize(" " + word),
            "misspelled_tokens": tokenizer.tokenize(" " + misspelling)}


@pytest.mark.parametrize("word, misspelling", [("definitely", "definately"), ("necessary", "neccessary"),
                                               ("separate", "seperate"), ("receive", "recieve")])
def test_exercise_1_takes_any_misspelling(tokenizer, word, misspelling, capsys):
    exec(check(1), answer(tokenizer, word, misspelling))
    assert capsys.readouterr().out.startswith(f"Correct: {word!r}")


# The wrong answer issue 31 found: two different words, neither a misspelling of the other, passed the old check.
OLD_CHECK = '''
assert correct_tokens is not None and misspelled_tokens is not None
token_lists = (correct_tokens, misspelled_tokens)
words = [tokenizer.convert_tokens_to_string(list(tokens)).strip() for tokens in token_lists]
assert all(len(word.split()) == 1 for word in words)
assert words[0] != words[1]
for word, tokens in zip(words, (correct_tokens, misspelled_tokens)):
    assert list(tokens) in (tokenizer.tokenize(" " + word), tokenizer.tokenize(word))
'''


@pytest.mark.parametrize("word, other", [("definitely", "elephant"), ("cat", "dog"), ("house", "houses and")])
def test_exercise_1_rejects_two_words_that_are_not_a_misspelling(tokenizer, word, other):
    if " " not in other:
        exec(OLD_CHECK, answer(tokenizer, word, other))  # the old check let it through
    with pytest.raises(AssertionError, match="misspell a word|one word each"):
        exec(check(1), answer(tokenizer, word, other))


def test_exercise_1_rejects_token_lists_the_tokenizer_did_not_make(tokenizer):
    namespace = answer(tokenizer, "definitely", "definately")
    namespace["misspelled_tokens"] = ["Ġdef", "in", "ately"]
    with pytest.raises(AssertionError, match="is not how the tokenizer cuts"):
        exec(check(1), namespace)


@pytest.mark.parametrize("side", ["right", "left"])
def test_exercise_3_holds_for_a_tokenizer_that_pads_on_either_side(tokenizer, side):
    """The reference solution finds the last real tokens whichever side the tokenizer pads on, and the check
    agrees; lengths instead of positions fail on both."""
    from transformers import DataCollatorWithPadding

    padded = tokenizer.__class__.from_pretrained(REPO_ROOT / "data" / "tiny-gpt2", padding_side=side)
    padded.pad_token = padded.eos_token
    features = [padded(text) for text in ("We sang.", "The children were singing in the garden.", "Go!")]
    batch = DataCollatorWithPadding(padded)(features)
    namespace = {"batch": batch, "tokenizer": padded}
    exec(cells("solution")[2], namespace)
    exec(check(3), namespace)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    with pytest.raises(AssertionError, match="not the last real tokens"):
        exec(check(3), {**namespace, "last_real": lengths})

"""The exercise checks and body checks of notebooks 04 and 05, fed wrong answers and the reference solutions.

Each test reads a cell's source from the committed notebook, runs it in a namespace that holds what the
notebook would have computed by then (made-up labels, a tiny classifier, a fake training log), and asserts that
a plausible wrong answer stops with an AssertionError whose message is a hint, while the reference solution
passes. Nothing here trains more than a few steps of the 1.7M-parameter tiny model.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, matthews_corrcoef

from cola_workshop.settings import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
TINY_MODEL = REPO_ROOT / "data" / "tiny-gpt2"


def cell_source(notebook: str, text: str) -> str:
    """The source of the one code cell of ``notebook`` that contains ``text``."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    found = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code" and text in "".join(cell["source"])]
    assert len(found) == 1, f"{len(found)} code cells of {notebook} contain {text!r}"
    return found[0]


def fails_with_hint(source: str, namespace: dict, hint: str) -> None:
    with pytest.raises(AssertionError, match=hint) as error:
        exec(source, namespace)
    assert len(str(error.value)) > 20, "a check that fails must say why"


# Notebook 04 -------------------------------------------------------------------------------------------------

NB04 = "04_training_args.ipynb"


@pytest.fixture
def made_up_guesses():
    rng = np.random.default_rng(0)
    labels = [int(label) for label in rng.random(200) < 0.7]
    guesses = rng.integers(0, 2, len(labels))
    guesses[:100] = labels[:100]
    return {"np": np, "matthews_corrcoef": matthews_corrcoef, "accuracy_score": accuracy_score,
            "labels": labels, "guesses": guesses}


def test_04_exercise_1_takes_the_reference_solution(made_up_guesses, capsys):
    namespace = dict(made_up_guesses)
    exec(cell_source(NB04, "def mcc_from_counts"), namespace)
    exec(cell_source(NB04, 'assert callable(mcc_from_counts)'), namespace)
    assert "Correct: MCC" in capsys.readouterr().out


@pytest.mark.parametrize("answer, hint", [
    ("mcc_from_counts, mcc_by_hand = None, None", "define the function"),
    # The wrong answer of the issue: scikit-learn's MCC of the guesses, whatever the counts.
    ("def mcc_from_counts(tp, tn, fp, fn):\n    return matthews_corrcoef(labels, guesses)\n"
     "mcc_by_hand = mcc_from_counts(0, 0, 0, 0)", "use only the four arguments"),
    ("def mcc_from_counts(tp, tn, fp, fn):\n    return (tp * tn - fp * fn) / ((tp + fp) * (tn + fn)) ** 0.5\n"
     "mcc_by_hand = matthews_corrcoef(labels, guesses)", "use only the four arguments"),
    ("def mcc_from_counts(tp, tn, fp, fn):\n    return 0.5\nmcc_by_hand = 0.5", "not the MCC of the guesses"),
])
def test_04_exercise_1_rejects_wrong_answers(made_up_guesses, answer, hint):
    namespace = dict(made_up_guesses)
    exec(answer, namespace)
    fails_with_hint(cell_source(NB04, 'assert callable(mcc_from_counts)'), namespace, hint)


def test_04_exercise_2_takes_the_reference_and_rejects_swapped_rules(made_up_guesses):
    namespace = dict(made_up_guesses)
    check = cell_source(NB04, "assert lazy_rules is not None")
    exec(cell_source(NB04, "rule_predictions = {"), namespace)
    exec(check, namespace)
    namespace["lazy_rules"] = {"always unacceptable": namespace["lazy_rules"]["always wrong"],
                               "always wrong": namespace["lazy_rules"]["always unacceptable"]}
    fails_with_hint(check, namespace, "always unacceptable: not its accuracy")


def _schedule_namespace():
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=tempfile.mkdtemp(), num_train_epochs=2.5, warmup_steps=0.1,
                             report_to="none", use_cpu=True)
    return {"args": args, "steps_per_epoch": 7}


def test_04_exercise_3_takes_the_reference():
    namespace = _schedule_namespace()
    exec(cell_source(NB04, "def schedule("), namespace)
    exec(cell_source(NB04, "expected_total = math.ceil("), namespace)
    assert (namespace["total_steps"], namespace["warmup"]) == (18, 2)


def _floor_schedule(epochs, steps_per_epoch, warmup):  # the wrong answer: rounds down, int(0.1 * 160)
    total = int(epochs * steps_per_epoch)
    return total, int(warmup * total) if warmup < 1 else int(warmup)


@pytest.mark.parametrize("wrong, hint", [
    ("rounds down", "rounded up"),
    ("warmup always a count", "warmup below 1 is a share of all steps"),
    ("this run's pair not stored", "store this run's pair"),
    ("another run's pair", "this run's pair"),
])
def test_04_exercise_3_rejects_wrong_answers(wrong, hint):
    import math

    namespace = _schedule_namespace()
    exec(cell_source(NB04, "def schedule("), namespace)
    if wrong == "rounds down":
        namespace["schedule"] = _floor_schedule
    elif wrong == "warmup always a count":
        namespace["schedule"] = lambda e, s, w: (math.ceil(e * s), int(w))
    elif wrong == "this run's pair not stored":
        namespace["total_steps"] = None
    else:
        namespace["total_steps"], namespace["warmup"] = 160, 16  # 5 epochs of 32 steps: not this run's
    fails_with_hint(cell_source(NB04, "expected_total = math.ceil("), namespace, hint)


def test_04_exercise_3_rounding_down_passed_the_old_check():
    """The check this exercise had (issue 31): 160 x 0.1 is exact, so rounding down passed it."""
    old_check = """
import math
assert total_steps is not None and warmup is not None
expected_total = math.ceil(args.num_train_epochs * steps_per_epoch)
assert int(total_steps) == expected_total
assert int(warmup) == args.get_warmup_steps(expected_total)
"""
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=tempfile.mkdtemp(), num_train_epochs=5, warmup_steps=0.1, report_to="none",
                             use_cpu=True)
    total, warmup = _floor_schedule(5, 32, 0.1)
    exec(old_check, {"args": args, "steps_per_epoch": 32, "total_steps": total, "warmup": warmup})  # no error
    namespace = {"args": args, "steps_per_epoch": 32, "schedule": _floor_schedule, "total_steps": total,
                 "warmup": warmup}
    fails_with_hint(cell_source(NB04, "expected_total = math.ceil("), namespace, "rounded up")


# Notebook 05 -------------------------------------------------------------------------------------------------

NB05 = "05_training.ipynb"


def eval_rows(mccs, accuracies=None, steps_per_epoch=10):
    accuracies = accuracies or [0.7] * len(mccs)
    return [{"eval_loss": 0.6 + 0.05 * epoch, "eval_matthews_correlation": mcc, "eval_accuracy": accuracy,
             "eval_runtime": 1.0, "epoch": float(epoch), "step": epoch * steps_per_epoch}
            for epoch, (mcc, accuracy) in enumerate(zip(mccs, accuracies), start=1)]


def test_05_exercise_1_takes_the_best_epoch_and_rejects_the_last():
    eval_log = pd.DataFrame(eval_rows([0.10, 0.31, 0.25]))
    namespace = {"eval_log": eval_log, "args": SimpleNamespace(num_train_epochs=3),
                 "trainer": SimpleNamespace(state=SimpleNamespace(best_metric=0.31))}
    check = cell_source(NB05, "at_epoch = eval_log.loc")
    exec(cell_source(NB05, 'best_epoch = eval_log.loc[eval_log["eval_matthews_correlation"].idxmax()'), namespace)
    exec(check, namespace)
    namespace["best_epoch"] = 3.0
    fails_with_hint(check, namespace, "another epoch has a higher selection MCC")


@pytest.fixture(scope="module")
def tiny_classifier():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(TINY_MODEL)
    tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(TINY_MODEL, num_labels=2)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def test_05_exercise_2_rejects_the_whole_model_as_the_head(tiny_classifier):
    model, _ = tiny_classifier
    namespace = {"model": model}
    check = cell_source(NB05, "assert head_parameters is not None and head_share is not None")
    exec(cell_source(NB05, "body = {id(parameter)"), namespace)
    exec(check, namespace)
    namespace["head_parameters"] = model.num_parameters()
    fails_with_hint(check, namespace, "count only the parameters outside model.base_model")


@pytest.fixture
def exercise_3(tiny_classifier):
    """What notebook 05 holds when exercise 3 starts, on 16 real-looking sentences and the tiny model."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    model, tokenizer = tiny_classifier
    id2label = {0: "unacceptable", 1: "acceptable"}
    sentences = ["The cat sat on the mat.", "Sat the on mat cat the.", "She reads books.", "Books she reads the."]
    train = Dataset.from_dict({"sentence": sentences * 4, "label": [1, 0, 1, 0] * 4})
    train = train.map(lambda batch: tokenizer(batch["sentence"]), batched=True, remove_columns=["sentence"])
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=4, use_cpu=True,
                             train_sampling_strategy="group_by_length", report_to="none")  # not the defaults
    return {
        "model": model, "tokenizer": tokenizer, "tokenized": {"train": train}, "args": args,
        "settings": SimpleNamespace(model=str(TINY_MODEL), seed=42),
        "train_result": SimpleNamespace(metrics={"train_samples_per_second": 100.0}),
        "id2label": id2label, "label2id": {name: label for label, name in id2label.items()},
        "source": str(TINY_MODEL), "AutoModelForSequenceClassification": AutoModelForSequenceClassification,
        "TrainingArguments": TrainingArguments, "Trainer": Trainer,
        "DataCollatorWithPadding": DataCollatorWithPadding,
    }


def test_05_exercise_3_takes_the_reference_solution(exercise_3, capsys):
    solution = cell_source(NB05, "frozen_model, frozen_trainer, trainable, speedup = None")
    assert "max_steps=5" in solution
    exec(solution.replace("max_steps=5", "max_steps=2"), exercise_3)
    exec(cell_source(NB05, "store frozen_model, frozen_trainer, trainable and speedup"), exercise_3)
    assert "Correct:" in capsys.readouterr().out


def _train_head(namespace, freeze_before=True, freeze_after=False, steps=2, defaults=False):
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    frozen = AutoModelForSequenceClassification.from_pretrained(TINY_MODEL, num_labels=2)
    frozen.config.pad_token_id = namespace["tokenizer"].pad_token_id
    if freeze_before:
        for parameter in frozen.base_model.parameters():
            parameter.requires_grad = False
    kept = namespace["args"]
    if defaults:  # TrainingArguments' defaults instead of the run's batch size and order
        args = TrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=steps, save_strategy="no", use_cpu=True,
                                 report_to="none", disable_tqdm=True)
    else:
        args = TrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=steps or 2, save_strategy="no",
                                 use_cpu=True, per_device_train_batch_size=kept.per_device_train_batch_size,
                                 train_sampling_strategy=kept.train_sampling_strategy, report_to="none",
                                 disable_tqdm=True)
    trainer = Trainer(model=frozen, args=args, train_dataset=namespace["tokenized"]["train"],
                      data_collator=DataCollatorWithPadding(namespace["tokenizer"]))
    speed = trainer.train().metrics["train_samples_per_second"] if steps else 1.0
    if freeze_after:
        for parameter in frozen.base_model.parameters():
            parameter.requires_grad = False
    namespace.update(frozen_model=frozen, frozen_trainer=trainer,
                     trainable=sum(p.numel() for p in frozen.parameters() if p.requires_grad),
                     speedup=speed / namespace["train_result"].metrics["train_samples_per_second"])
    return namespace


@pytest.mark.parametrize("wrong, hint", [
    ("stub", "store frozen_model, frozen_trainer, trainable and speedup"),
    ("the fine-tuned model", "train a fresh classifier"),
    ("body not frozen", "set requires_grad = False on every body parameter"),
    ("frozen after training", "freeze the body before training"),
    ("every parameter counted", "trainable: add up numel"),
    ("never trained", "train 5 steps"),
    ("TrainingArguments' defaults", "keep per_device_train_batch_size"),
    ("the ratio upside down", "speedup: the head's sentences/s divided by the whole model's"),
])
def test_05_exercise_3_rejects_wrong_answers(exercise_3, wrong, hint):
    namespace = exercise_3
    if wrong == "stub":
        namespace.update(frozen_model=None, frozen_trainer=None, trainable=None, speedup=None)
    elif wrong == "body not frozen":
        _train_head(namespace, freeze_before=False)
    elif wrong == "frozen after training":
        _train_head(namespace, freeze_before=False, freeze_after=True)
    elif wrong == "never trained":
        _train_head(namespace, steps=0)
    elif wrong == "TrainingArguments' defaults":
        _train_head(namespace, defaults=True)
    else:
        _train_head(namespace)
        if wrong == "every parameter counted":
            namespace["trainable"] = namespace["frozen_model"].num_parameters()
        if wrong == "the fine-tuned model":
            namespace["model"] = namespace["frozen_model"]
        if wrong == "the ratio upside down":
            namespace["speedup"] = 1 / namespace["speedup"]
    fails_with_hint(cell_source(NB05, "store frozen_model, frozen_trainer, trainable and speedup"), namespace, hint)


def test_05_exercise_3_check_recomputes_nothing_that_precision_could_change():
    """Issue 23's bug was a check that re-predicted in float32 what the answer had predicted in bf16."""
    check = cell_source(NB05, "store frozen_model, frozen_trainer, trainable and speedup")
    assert not re.search(r"predict|evaluate|logits|no_grad|frozen_model\(", check)


# Notebook 05's body: the kept epoch's evaluation and the reading of the curves -----------------------------

class _Evaluator(SimpleNamespace):
    """A Trainer's state and an ``evaluate`` that records what it was asked to score."""

    def evaluate(self, dataset, metric_key_prefix="eval"):
        self.calls.append((dataset, metric_key_prefix))
        return {f"{metric_key_prefix}_{key}": value for key, value in
                {"loss": 0.61, "matthews_correlation": 0.25, "accuracy": 0.7, "runtime": 1.0, "epoch": 3.0}.items()}


def _kept_epoch_namespace(tiny_classifier, folder: Path, mccs, best_epoch):
    from safetensors.torch import save_file

    model, _ = tiny_classifier
    checkpoint = folder / f"checkpoint-{best_epoch * 10}"
    checkpoint.mkdir()
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()},
              str(checkpoint / "model.safetensors"))
    rows = eval_rows(mccs)
    state = SimpleNamespace(best_model_checkpoint=str(checkpoint), log_history=[{"loss": 0.7, "step": 5}, *rows],
                            best_metric=mccs[best_epoch - 1])
    return {"trainer": _Evaluator(state=state, calls=[]), "model": model, "args": SimpleNamespace(num_train_epochs=3),
            "eval_log": pd.DataFrame(rows), "tokenized": {"validation": ["the validation split"]}}


def test_05_reports_one_evaluation_of_the_validation_split_for_the_kept_epoch(tiny_classifier, tmp_path, capsys):
    namespace = _kept_epoch_namespace(tiny_classifier, tmp_path, [0.1, 0.4, 0.2], best_epoch=2)
    exec(cell_source(NB05, "kept_step = int("), namespace)
    assert namespace["trainer"].calls == [(["the validation split"], "validation")]
    assert namespace["eval_metrics"] == {"loss": 0.61, "matthews_correlation": 0.25, "accuracy": 0.7,
                                         "runtime": 1.0, "epoch": 2.0}
    assert "kept: epoch 2 of 3 (selection MCC 0.400)" in capsys.readouterr().out
    exec(cell_source(NB05, "saved = load_file("), namespace)  # the body check passes


def test_05_body_check_fails_when_the_kept_epoch_is_not_the_best(tiny_classifier, tmp_path):
    namespace = _kept_epoch_namespace(tiny_classifier, tmp_path, [0.1, 0.4, 0.2], best_epoch=3)
    fails_with_hint(cell_source(NB05, "saved = load_file("), namespace, "does not have the best selection MCC")


def test_05_body_check_fails_when_the_model_in_memory_is_not_the_checkpoint(tiny_classifier, tmp_path):
    import torch
    from safetensors.torch import save_file

    namespace = _kept_epoch_namespace(tiny_classifier, tmp_path, [0.1, 0.4, 0.2], best_epoch=2)
    weights = {name: tensor.clone().contiguous() for name, tensor in namespace["model"].state_dict().items()}
    weights["score.weight"] += 1.0
    save_file(weights, str(tmp_path / "checkpoint-20" / "model.safetensors"))
    with torch.no_grad():
        fails_with_hint(cell_source(NB05, "saved = load_file("), namespace, "not the kept checkpoint")


def test_05_names_an_epoch_that_gave_every_sentence_the_majority_answer(capsys):
    labels = [1] * 140 + [0] * 60
    rows = eval_rows([0.0, 0.05, 0.3], accuracies=[0.7, 0.66, 0.75])
    namespace = {"np": np, "tokenized": {"selection": {"label": labels}}, "eval_log": pd.DataFrame(rows),
                 "id2label": {0: "unacceptable", 1: "acceptable"}, "best": pd.DataFrame(rows).iloc[2]}
    exec(cell_source(NB05, "chance = 1.96 / len(truth) ** 0.5"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert "the share of 'acceptable': that answer for every sentence" in lines[0]
    assert "within chance of 0" in lines[1]  # 0.05 < 1.96 / sqrt(200) = 0.139
    assert "above chance" in lines[2]

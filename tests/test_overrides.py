"""Notebook 04's recipe is GPT-2 small's, as literal values; a run's changes to it are applied in one visible line."""

from __future__ import annotations

import pytest
from notebook_literals import code_cells, max_length_in, recipe_in

from cola_workshop.overrides import RUN_FIELDS, apply_run_settings, run_changes
from cola_workshop.settings import REPO_ROOT, load_settings, profile_defaults

RECIPE = recipe_in(code_cells(REPO_ROOT / "notebooks" / "04_training_args.ipynb"))


def test_the_full_profile_is_the_recipe_as_written(capsys):
    """GPT-2 small's run changes nothing: its profile holds exactly notebook 04's literal values."""
    full = profile_defaults("full")
    for field, name in RUN_FIELDS.items():
        assert RECIPE[field] == full[name], f"notebook 04's {field} and the full profile's {name} differ"
    settings = load_settings(environ={}, profile="full")
    assert run_changes(RECIPE, settings, {"use_cpu": True, "bf16": False}) == {}
    assert apply_run_settings(RECIPE, settings) == RECIPE
    assert capsys.readouterr().out == "no changes: this run trains with the recipe as written\n"


def test_both_profiles_cut_sentences_where_notebook_03_does():
    """The model card reports the profile's max_length; notebook 03 writes its own literal: they must agree."""
    max_length = max_length_in(code_cells(REPO_ROOT / "notebooks" / "03_preprocessing.ipynb"))
    assert profile_defaults("full")["max_length"] == profile_defaults("tiny")["max_length"] == max_length


def test_the_tiny_profile_says_what_it_changes(capsys):
    settings = load_settings(environ={}, profile="tiny")
    applied = apply_run_settings(RECIPE, settings, {"use_cpu": True, "bf16": False})
    assert applied["learning_rate"] == 3e-3 and applied["num_train_epochs"] == 5
    assert {key: value for key, value in applied.items() if key not in ("learning_rate", "num_train_epochs")} == {
        key: value for key, value in RECIPE.items() if key not in ("learning_rate", "num_train_epochs")}
    assert capsys.readouterr().out == "tiny profile: learning_rate 2e-05 -> 0.003, num_train_epochs 3 -> 5\n"


def test_a_flag_and_the_machine_are_named_as_the_reason(capsys):
    settings = load_settings(environ={}, profile="tiny", epochs="1", learning_rate="1e-4")
    applied = apply_run_settings(RECIPE, settings, {"use_cpu": True, "bf16": True})
    assert applied["num_train_epochs"] == 1 and applied["learning_rate"] == 1e-4
    assert applied["bf16"] is True and applied["use_cpu"] is True
    assert capsys.readouterr().out.splitlines() == [
        "--learning-rate: learning_rate 2e-05 -> 0.0001",
        "--epochs: num_train_epochs 3 -> 1",
        "this machine: use_cpu False -> True, bf16 False -> True",
    ]


@pytest.mark.parametrize("precision", [{"bf16": False, "fp16": True}, {"use_cpu": True, "bf16": False}, {}])
def test_precision_changes_only_what_differs_and_needs_use_cpu_only_for_bf16(precision):
    changes = run_changes(RECIPE, load_settings(environ={}, profile="full"), precision)
    assert changes == ({"this machine": {"fp16": True}} if precision.get("fp16") else {})

"""The bonus notebook 07 (design choices): its helpers, taken from the notebook itself, on small models of the
three families it must handle (GPT-2, Llama-style decoders, BERT-style encoders); LoRA's merge and adapter size;
the --seeds setting and the bonus stage in `cola-workshop run`.

The notebook's own run (every choice, every seed) is left to nbval; these tests build models from configs or the
tiny GPT-2 in data/ and take a few seconds.
"""

from __future__ import annotations

import re

import nbformat
import pytest
import torch
from safetensors import safe_open

from cola_workshop.artifacts import BONUS_STAGES, STAGES, save_stage, stage_name
from cola_workshop.settings import REPO_ROOT, SEEDS_VAR, SettingsError, load_seeds, load_settings, parse_seeds
from cola_workshop.tools import cli

NOTEBOOK = REPO_ROOT / "notebooks" / "07_design_choices.ipynb"
HELPERS = ("transformer_blocks", "lora_targets", "train_only")  # the cells that define them define the rest too


def notebook_helpers(fresh_model):
    """Execute the notebook's cells that define its helpers, with ``fresh_model`` standing in for the notebook's."""
    namespace = {"fresh_model": fresh_model, "seeds": [0]}
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and any(f"def {name}(" in cell.source for name in HELPERS):
            exec(compile(cell.source, str(NOTEBOOK), "exec"), namespace)
    missing = [name for name in (*HELPERS, "after_blocks", "head_parameters", "lora_config", "CHOICES")
               if name not in namespace]
    assert not missing, f"the notebook no longer defines {missing}"
    return namespace


def tiny_gpt2():
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(REPO_ROOT / "data" / "tiny-gpt2", num_labels=2)
    model.config.pad_token_id = model.config.eos_token_id
    return model


def tiny_llama():
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, num_labels=2)
    return LlamaForSequenceClassification(config)


def tiny_bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                        num_attention_heads=4, num_labels=2)
    return BertForSequenceClassification(config)


# For each family: the blocks' attribute path, what follows them in the body, and peft's attention targets.
FAMILIES = {
    "gpt2": (tiny_gpt2, "transformer.h", ["ln_f.weight", "ln_f.bias"], ["c_attn"]),
    "llama": (tiny_llama, "model.layers", ["norm.weight"], ["q_proj", "v_proj"]),
    "bert": (tiny_bert, "bert.encoder.layer", ["pooler.dense.weight", "pooler.dense.bias"], ["query", "value"]),
}


def trainable_names(model) -> set[str]:
    return {name for name, parameter in model.named_parameters() if parameter.requires_grad}


@pytest.mark.parametrize("family", FAMILIES)
def test_the_blocks_what_follows_them_and_the_lora_targets_are_found_in_every_family(family):
    build, blocks_path, after, targets = FAMILIES[family]
    helpers, model = notebook_helpers(build), build()
    assert helpers["transformer_blocks"](model) is model.get_submodule(blocks_path)
    assert helpers["after_blocks"](model) == after
    assert sorted(helpers["lora_targets"](model)) == sorted(targets)


@pytest.mark.parametrize("family", FAMILIES)
def test_head_only_and_last_blocks_train_exactly_what_they_say(family):
    build, blocks_path, after, _ = FAMILIES[family]
    helpers = notebook_helpers(build)
    prefix = build().base_model_prefix + "."
    head_only = helpers["CHOICES"]["head only"][0](build())
    assert trainable_names(head_only) and not any(name.startswith(prefix) for name in trainable_names(head_only))
    last = helpers["CHOICES"]["last blocks"][0](build())
    blocks = last.get_submodule(blocks_path)
    count = len(blocks)
    expected = {f"{blocks_path}.{i}.{name}" for i in (count - 2, count - 1) for name, _ in blocks[i].named_parameters()}
    expected |= {prefix + name for name in after} | trainable_names(head_only)
    assert trainable_names(last) == expected
    full = helpers["CHOICES"]["full fine-tuning"][0](build())
    assert trainable_names(full) == {name for name, _ in full.named_parameters()}


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_merged_gives_the_unmerged_probabilities_and_its_trainable_parameters_are_the_adapter(family, tmp_path):
    build = FAMILIES[family][0]
    helpers = notebook_helpers(build)
    lora = helpers["CHOICES"]["LoRA"][0](build())
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # B starts at zero (the adapter changes nothing yet): give it values a training would
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    lora.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "adapter_model.safetensors"), "pt") as saved:
        assert sum(saved.get_tensor(key).numel() for key in saved.keys()) == trainable
    assert trainable < sum(p.numel() for p in lora.parameters()) / 10
    inputs = {"input_ids": torch.randint(1, 90, (4, 7), generator=generator), "attention_mask": torch.ones(4, 7, dtype=torch.long)}
    inputs["attention_mask"][0, 5:] = 0  # one padded sentence
    lora.eval()
    with torch.no_grad():
        before = torch.softmax(lora(**inputs).logits, dim=-1)
        merged = lora.merge_and_unload()
        after = torch.softmax(merged(**inputs).logits, dim=-1)
    assert not any("lora_" in name for name, _ in merged.named_parameters()), "merge_and_unload leaves a plain model"
    assert (before - 0.5).abs().max() > 1e-3, "the probabilities should depend on the input (a degenerate test)"
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5)


def test_the_rank_16_exercise_check_holds_for_twice_the_rank():
    helpers = notebook_helpers(tiny_gpt2)
    from peft import get_peft_model

    def lora_only(model):
        return sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" in n)

    rank8 = get_peft_model(tiny_gpt2(), helpers["lora_config"](tiny_gpt2()))
    rank16 = get_peft_model(tiny_gpt2(), helpers["lora_config"](tiny_gpt2(), rank=16))
    assert lora_only(rank16) == 2 * lora_only(rank8) > 0


# --------------------------------------------------------------------------------------------------
# Exercise 3 (stretch): LoRA merged by hand
# --------------------------------------------------------------------------------------------------


def exercise_cells(exercise: int) -> tuple[str, str]:
    """The sources of the answer cell and the check cell of exercise ``exercise`` (1-based)."""
    cells = nbformat.read(str(NOTEBOOK), as_version=4).cells
    tagged = [(cell.source, cell.metadata.get("tags", [])) for cell in cells]
    solutions = [source for source, tags in tagged if "solution" in tags]
    checks = [source for source, tags in tagged if "check" in tags]
    return solutions[exercise - 1], checks[exercise - 1]


def lora_with_values(helpers, build):
    from peft import get_peft_model

    lora = get_peft_model(build(), helpers["lora_config"](build()))
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.02, generator=torch.Generator().manual_seed(3))
    layer = next(module for module in lora.modules() if hasattr(module, "lora_A"))
    return lora, layer


def merge_check(lora_model, merged_by_hand):
    namespace = {"torch": torch, "lora_model": lora_model, "merged_by_hand": merged_by_hand}
    exec(compile(exercise_cells(3)[1], str(NOTEBOOK), "exec"), namespace)  # noqa: S102 - the notebook's check


@pytest.mark.parametrize("family", FAMILIES)
def test_exercise_3s_reference_solution_passes_its_check_in_every_family(family, capsys):
    build = FAMILIES[family][0]
    helpers = notebook_helpers(build)
    namespace = {**helpers, "model": build(), "fresh_model": lambda seed: build()}
    solution, check = exercise_cells(3)
    exec(compile(solution, str(NOTEBOOK), "exec"), namespace)  # noqa: S102 - the notebook's own answer cell
    exec(compile(check, str(NOTEBOOK), "exec"), namespace)  # noqa: S102
    assert capsys.readouterr().out.splitlines()[-1].startswith("Correct: your merge of ")


def test_exercise_3_fails_w_alone_an_untrained_adapter_a_missing_transpose_or_scaling():
    helpers = notebook_helpers(tiny_gpt2)
    lora, layer = lora_with_values(helpers, tiny_gpt2)
    W, A, B = layer.base_layer.weight, layer.lora_A["default"].weight, layer.lora_B["default"].weight
    scaling = layer.scaling["default"]
    assert layer.fan_in_fan_out and W.shape[0] != W.shape[1] and scaling != 1, "GPT-2's c_attn: a telling case"
    with torch.no_grad():
        merge_check(lora, W + (scaling * B @ A).T)  # the reference: passes
        with pytest.raises(AssertionError, match="W alone"):
            merge_check(lora, W.clone())
        with pytest.raises(AssertionError, match="W has the shape"):
            merge_check(lora, W.T + scaling * B @ A)
        with pytest.raises(AssertionError, match="check the scaling"):
            merge_check(lora, W + (B @ A).T)
        untrained, untrained_layer = lora_with_values(helpers, tiny_gpt2)
        for name, parameter in untrained.named_parameters():
            if "lora_B" in name:
                parameter.zero_()
        with pytest.raises(AssertionError, match="B is still zero"):
            merge_check(untrained, untrained_layer.base_layer.weight.clone())
    with pytest.raises(AssertionError, match="store lora_model and merged_by_hand"):
        merge_check(None, None)


# --------------------------------------------------------------------------------------------------
# The notebook's shape, the --seeds setting and the bonus stage
# --------------------------------------------------------------------------------------------------


def test_the_notebook_ends_with_exercises_each_with_a_collapsed_solution_and_a_check():
    cells = nbformat.read(str(NOTEBOOK), as_version=4).cells
    tags = [cell.metadata.get("tags", []) for cell in cells]
    assert "parameters" in tags[2] and "notebook.start()" in cells[2].source
    start = next(i for i, cell in enumerate(cells) if cell.source.startswith("## Exercises"))
    solutions = [i for i, t in enumerate(tags) if "solution" in t]
    assert len(solutions) == 3 and all(i > start and "check" in tags[i + 1] for i in solutions)
    for i in solutions:
        assert cells[i].metadata["jupyter"]["source_hidden"] and "hide-input" in tags[i]
        assert re.fullmatch(r"[\w, ]+ = None[\w, ]*(  #.*)?", cells[i].source.splitlines()[0].replace("None, None", "None"))
    assert all(len(line) <= 120 for cell in cells if cell.cell_type == "code" for line in cell.source.splitlines())
    assert all(len(cell.source.splitlines()) <= 30 for cell in cells if cell.cell_type == "code")


def test_seeds_count_from_the_profiles_seed_and_refuse_a_bad_value():
    assert load_seeds({}) == [42, 43, 44]
    assert load_seeds({SEEDS_VAR: "2", "WORKSHOP_PROFILE": "tiny"}) == [42, 43]
    assert parse_seeds(" 5 ") == 5
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(SettingsError, match="--seeds / WORKSHOP_SEEDS"):
            parse_seeds(bad)


def test_the_bonus_stage_runs_only_when_asked_and_needs_only_notebooks_01_to_04(tmp_path):
    assert stage_name("07") == "07_design_choices" and BONUS_STAGES == ("07_design_choices",)
    assert cli.stage_range(None, None) == list(STAGES)
    assert cli.stage_range("05", "07") == ["05_training", "06_usage", "07_design_choices"]
    assert cli.stage_range("07", "07") == ["07_design_choices"]
    settings = load_settings({"WORKSHOP_PROFILE": "tiny", "WORKSHOP_OUTPUTS": str(tmp_path)})
    with pytest.raises(cli.CliError, match="needs 01_goal"):
        cli.check_upstream(settings, "07_design_choices")
    for stage in STAGES[:4]:
        with save_stage(settings, stage) as folder:
            (folder / "done.json").write_text("{}")
    cli.check_upstream(settings, "07_design_choices")  # 05 and 06 are not needed
    with save_stage(settings, "07_design_choices") as folder:
        (folder / "design_choices.json").write_text("{}")
    manifest = (settings.stage_dir("07_design_choices") / "manifest.json").read_text()
    assert '"04_training_args"' in manifest  # it records the run of notebook 04 that it was built on
    cli.check_upstream(settings, "05_training")  # notebook 05 still needs only 01-04


def test_each_runs_probabilities_come_back_in_the_splits_order_though_training_grouped_by_length(tmp_path):
    """transformers 5 batches predict() by length when training does, so its rows come back out of the split's
    order; the notebook's ``probabilities`` predicts in order, row i for sentence i (with real weights, a model
    scored against the split's labels in the grouped order looked no better than chance)."""
    import numpy as np
    from datasets import Dataset
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(REPO_ROOT / "data" / "tiny-gpt2")
    tokenizer.pad_token = tokenizer.eos_token
    model = tiny_gpt2()
    model.config.pad_token_id = tokenizer.pad_token_id
    sentences = [" ".join(["word"] * (1 + (i * 7) % 13)) + f" number {i}." for i in range(24)]
    rows = tokenizer(sentences)
    split = Dataset.from_dict({"input_ids": rows["input_ids"], "label": [i % 2 for i in range(24)]})
    arguments = TrainingArguments(output_dir=str(tmp_path), train_sampling_strategy="group_by_length",
                                  per_device_eval_batch_size=4, use_cpu=True, report_to=[])
    trainer = Trainer(model=model, args=arguments, processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer))
    namespace = {"tokenized": {"validation": split}, "tokenizer": tokenizer, "torch": torch, "Trainer": Trainer,
                 "DataCollatorWithPadding": DataCollatorWithPadding}
    for cell in nbformat.read(str(NOTEBOOK), as_version=4).cells:
        if cell.cell_type == "code" and "def probabilities(" in cell.source:
            exec(compile(cell.source, str(NOTEBOOK), "exec"), namespace)

    model.eval()
    with torch.no_grad():  # one sentence at a time, in the split's order: no padding, no batching
        expected = [torch.softmax(model(torch.tensor([ids])).logits, -1)[0, 1].item() for ids in split["input_ids"]]
    assert np.allclose(namespace["probabilities"](trainer, model), expected, atol=1e-4)

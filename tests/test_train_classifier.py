"""notebooks/train_classifier.py, the standalone script a learner copies: its defaults are notebook 04's recipe, it
trains on a CSV or JSON-lines file of its own, and under torchrun two processes share each batch and one saves.

The script is loaded from its file (it imports nothing from cola_workshop). Training runs use the tiny GPT-2 in
data/, offline.
"""

import csv
import importlib.util
import json
import math
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_literals import code_cells, max_length_in, recipe_in

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO_ROOT / "notebooks"
SCRIPT = NOTEBOOKS / "train_classifier.py"
TINY_GPT2 = REPO_ROOT / "data" / "tiny-gpt2"

spec = importlib.util.spec_from_file_location("train_classifier", SCRIPT)
train_classifier = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_classifier)

TOPICS = {  # three made-up classes, each with its own words
    "sports": (["The team", "Our coach", "The striker", "The goalkeeper"], ["won the match", "scored a goal",
                                                                           "trained all week", "lost the final"]),
    "politics": (["The senate", "The minister", "The party", "The mayor"], ["passed a law", "won the vote",
                                                                           "gave a speech", "raised taxes"]),
    "science": (["The physicist", "The lab", "The biologist", "The telescope"], ["measured the atom",
                                                                               "found a new cell",
                                                                               "tested a theory",
                                                                               "observed a comet"]),
}
ROWS = 90  # 30 a topic; a stratified 10% (9 rows) is the selection slice that picks the epoch, 81 are trained on
BATCH = 8


def make_rows(rows=ROWS, seed=0):
    rng = random.Random(seed)
    names = sorted(TOPICS)
    out = []
    for i in range(rows):
        topic = names[i % len(names)]
        subjects, verbs = TOPICS[topic]
        out.append({"text": f"{rng.choice(subjects)} {rng.choice(verbs)} on day {i}.", "topic": topic})
    rng.shuffle(out)
    return out


def write_csv(path, rows):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["text", "topic"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def training_flags(train_file, output_dir, epochs, *extra):
    return ["--model_name_or_path", str(TINY_GPT2), "--train_file", str(train_file), "--output_dir", str(output_dir),
            "--num_train_epochs", str(epochs), "--per_device_train_batch_size", str(BATCH),
            "--learning_rate", "3e-3", "--disable_tqdm", "True", *extra]


def steps_taken(output_dir):
    """The optimizer steps of the whole run: the last checkpoint's global_step (its folder is named after it)."""
    last = max(Path(output_dir).glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    state = json.loads((last / "trainer_state.json").read_text())
    assert int(last.name.split("-")[1]) == state["global_step"]
    return state["global_step"]


def one_model_saved(output_dir):
    """The model, its tokenizer and eval_metrics.json at the top of output_dir, once; checkpoints as allowed."""
    out = Path(output_dir)
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    assert list(out.rglob("eval_metrics.json")) == [out / "eval_metrics.json"]
    checkpoints = list(out.glob("checkpoint-*"))
    assert 1 <= len(checkpoints) <= 2, checkpoints  # save_total_limit=2: the best and the last
    assert sorted(out.rglob("model.safetensors")) == sorted([out / "model.safetensors"] +
                                                            [c / "model.safetensors" for c in checkpoints])
    metrics = json.loads((out / "eval_metrics.json").read_text())
    assert -1 <= metrics["matthews_correlation"] <= 1 and 0 <= metrics["accuracy"] <= 1
    last = max(checkpoints, key=lambda path: int(path.name.split("-")[1]))
    state = json.loads((last / "trainer_state.json").read_text())  # the kept model is the best epoch's
    assert metrics["kept_checkpoint"] == Path(state["best_model_checkpoint"]).name in [c.name for c in checkpoints]
    if metrics["scored_on"] == "selection":  # no validation file: the scores are those that chose the epoch
        assert abs(metrics["matthews_correlation"] - state["best_metric"]) < 1e-6
    return json.loads((out / "config.json").read_text()), metrics


def differences(recipe, args):
    """The recipe's keys whose value differs from the script's TrainingArguments default (an Enum by its value)."""
    return {key: (value, getattr(getattr(args, key), "value", getattr(args, key)))
            for key, value in recipe.items() if getattr(getattr(args, key), "value", getattr(args, key)) != value}


RECIPE_CELL = '''\
recipe = dict(
    learning_rate=2e-5,
    per_device_train_batch_size=32,
    per_device_eval_batch_size=64,
    num_train_epochs=3,
    weight_decay=0.01,
    warmup_steps=0.1,
    lr_scheduler_type="linear",
    seed=42,
)
'''


def test_the_recipe_parser_reads_a_cell_and_reports_a_changed_value():
    _, args = train_classifier.parse_arguments([])
    sources = ["%matplotlib inline", "import math", RECIPE_CELL]
    assert recipe_in(sources)["lr_scheduler_type"] == "linear" and differences(recipe_in(sources), args) == {}
    changed = RECIPE_CELL.replace("learning_rate=2e-5", "learning_rate=3e-5")
    assert differences(recipe_in([changed]), args) == {"learning_rate": (3e-5, 2e-5)}
    assert max_length_in(["x = 1\nmax_length = 64\n"]) == 64
    with pytest.raises(AssertionError, match="found 0"):
        recipe_in(["args = TrainingArguments(output_dir='x')"])


def test_defaults_are_notebook_04s_recipe_and_notebook_03s_max_length():
    data, args = train_classifier.parse_arguments([])
    recipe = recipe_in(code_cells(NOTEBOOKS / "04_training_args.ipynb"))
    assert recipe.keys() >= train_classifier.RECIPE.keys(), "notebook 04's recipe lost a key the script sets"
    differ = differences(recipe, args)
    assert differ == {}, f"notebook 04's recipe and the script's defaults differ, (notebook, script): {differ}"
    max_length = max_length_in(code_cells(NOTEBOOKS / "03_preprocessing.ipynb"))
    assert data.max_seq_length == max_length, (
        f"notebook 03's max_length is {max_length}, the script's --max_seq_length default {data.max_seq_length}")


def test_defaults_fine_tune_gpt2_small_on_cola_and_keep_the_best_epoch():
    data, args = train_classifier.parse_arguments([])
    assert (data.model_name_or_path, data.dataset_name, data.dataset_config_name) == (
        "openai-community/gpt2", "nyu-mll/glue", "cola")
    assert (data.text_column_names, data.label_column_name, data.train_file) == ("sentence", "label", None)
    assert str(args.eval_strategy.value) == str(args.save_strategy.value) == "epoch"
    assert args.load_best_model_at_end and args.metric_for_best_model == "matthews_correlation"
    assert args.greater_is_better and args.save_total_limit == 2 and args.report_to in ("none", [])
    assert args.train_sampling_strategy == "group_by_length" and args.output_dir == "outputs/train_classifier"


def test_a_flag_overrides_one_default_and_keeps_the_others():
    data, args = train_classifier.parse_arguments(["--learning_rate", "1e-4", "--max_seq_length", "128",
                                                   "--output_dir", "elsewhere"])
    assert (args.learning_rate, data.max_seq_length, args.output_dir) == (1e-4, 128, "elsewhere")
    assert (args.per_device_train_batch_size, args.num_train_epochs, args.warmup_steps) == (32, 3, 0.1)


def test_wrong_columns_stop_with_one_line_naming_the_flags(tmp_path):
    train_file = write_csv(tmp_path / "topics.csv", make_rows())
    with pytest.raises(SystemExit, match="one column or two"):
        train_classifier.parse_arguments(["--text_column_names", "a,b,c"])
    with pytest.raises(SystemExit, match=r"no column \['label'\], only \['text', 'topic'\]: set --text_column"):
        train_classifier.main(training_flags(train_file, tmp_path / "model", 1, "--text_column_names", "text"))
    assert not (tmp_path / "model").exists()


# Training on a learner's own files


@pytest.mark.slow
def test_a_csv_with_three_string_labels_trains_and_saves_their_names(tmp_path, capsys):
    train_file = write_csv(tmp_path / "topics.csv", make_rows())
    out = tmp_path / "model"
    train_classifier.main(training_flags(train_file, out, 2, "--text_column_names", "text",
                                         "--label_column_name", "topic"))
    config, _ = one_model_saved(out)
    assert config["id2label"] == {"0": "politics", "1": "science", "2": "sports"}
    assert config["label2id"] == {"politics": 0, "science": 1, "sports": 2}
    assert config["pad_token_id"] == config["eos_token_id"]
    n_train = ROWS - math.ceil(0.1 * ROWS)
    assert steps_taken(out) == 2 * math.ceil(n_train / BATCH)  # one process: every batch of 8 is one step
    assert f"texts: train {n_train}, selection {ROWS - n_train}; scores on selection" in capsys.readouterr().out


def write_grades(path, rows, seed):
    rng = random.Random(seed)
    lines = [{"first": f"Item {i} costs {rng.randint(1, 9)} coins.", "second": f"It is {word}.", "grade": grade}
             for i, (word, grade) in enumerate([("cheap", 1), ("fair", 2), ("dear", 10)] * (rows // 3))]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.slow
def test_json_lines_with_integer_labels_a_text_pair_and_a_validation_file(tmp_path, capsys):
    train_file = write_grades(tmp_path / "train.jsonl", 60, seed=1)
    validation_file = write_grades(tmp_path / "validation.json", 15, seed=2)
    out = tmp_path / "model"
    metrics = train_classifier.main(training_flags(train_file, out, 1, "--validation_file", str(validation_file),
                                                   "--text_column_names", "first,second",
                                                   "--label_column_name", "grade"))
    config, saved = one_model_saved(out)
    assert config["id2label"] == {"0": "1", "1": "2", "2": "10"}  # sorted as numbers, not as text
    assert saved == metrics and metrics["scored_on"] == "validation"
    assert "texts: train 54, validation 15, selection 6; scores on validation" in capsys.readouterr().out


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_share_each_epoch_and_one_saves(tmp_path):
    train_file = write_csv(tmp_path / "topics.csv", make_rows())
    out = tmp_path / "model"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(SCRIPT),
               *training_flags(train_file, out, 2, "--text_column_names", "text", "--label_column_name", "topic",
                               "--use_cpu", "True")]  # on CPUs: gloo; without it each process trains alone
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    config, _ = one_model_saved(out)
    assert config["id2label"] == {"0": "politics", "1": "science", "2": "sports"}
    n_train = ROWS - math.ceil(0.1 * ROWS)
    # Each optimizer step took a batch of 8 on each of the two processes: half the steps one process takes.
    assert steps_taken(out) == 2 * math.ceil(n_train / (2 * BATCH)) < 2 * math.ceil(n_train / BATCH)
    assert run.stdout.count("texts: train ") == 1  # only the main process prints (and writes)

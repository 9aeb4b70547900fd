"""Fine-tune a causal language model (GPT-2 by default) as a sequence classifier on your own data.

The workshop's notebooks 02-05 in one file: load the data, tokenize it (GPT-2's missing padding token, truncation,
dynamic padding), train with notebook 04's recipe, keep the epoch with the best MCC on a held-out slice, score it
on the validation data once, save the model, its tokenizer and those scores. It needs only transformers, datasets,
torch, numpy and scikit-learn.

Without flags it fine-tunes GPT-2 small on GLUE's CoLA. Your own data is a CSV or JSON-lines file (by extension):

    python train_classifier.py --train_file reviews.csv --text_column_names text --label_column_name topic \\
        --output_dir outputs/topics

Labels may be strings or integers, any number of classes; the names of the model's classes are the sorted unique
labels of the training file. As in notebook 03, a stratified 10% of the training data (the selection slice) picks
the best epoch, and --validation_file (CoLA: its validation split) is scored once, at the end; without one, the
scores are the selection slice's, optimistic. Two text columns (--text_column_names question,answer) are a pair.
Every TrainingArguments flag works too (--learning_rate, --num_train_epochs, --per_device_train_batch_size,
--bf16, ...). The same script, unchanged, runs on several GPUs or machines, one process each:

    torchrun --nproc_per_node 4 train_classifier.py ...        # or: accelerate launch --num_processes 4 ...
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 4 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        train_classifier.py ...                                # and --node_rank 1 on the second machine

Each process trains on its share of every batch, so an epoch takes fewer optimizer steps; only one process saves.
On CPUs alone (a rehearsal), add --use_cpu True so that the processes train together over gloo.
"""

import json
import os
import sys
from dataclasses import dataclass

import numpy as np
from datasets import ClassLabel, DatasetDict, load_dataset
from sklearn.metrics import accuracy_score, matthews_corrcoef
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                          HfArgumentParser, Trainer, TrainingArguments)

# Notebook 04's recipe for GPT-2 small; a flag on the command line overrides any of them.
RECIPE = dict(
    learning_rate=2e-5,
    per_device_train_batch_size=32,
    per_device_eval_batch_size=64,
    num_train_epochs=3,
    weight_decay=0.01,
    warmup_steps=0.1,  # below 1: a share of all optimizer steps
    lr_scheduler_type="linear",
    seed=42,
)
CHOICES = dict(  # notebook 04's other choices: keep the epoch with the best MCC on the selection slice
    eval_strategy="epoch",
    save_strategy="epoch",
    save_total_limit=2,
    load_best_model_at_end=True,
    metric_for_best_model="matthews_correlation",
    train_sampling_strategy="group_by_length",  # batches of similar lengths: less padding
    report_to="none",
    output_dir="outputs/train_classifier",
)


@dataclass
class DataArguments:
    model_name_or_path: str = "openai-community/gpt2"
    dataset_name: str | None = "nyu-mll/glue"
    dataset_config_name: str | None = "cola"
    train_file: str | None = None  # .csv or .json/.jsonl; replaces --dataset_name
    validation_file: str | None = None  # scored once at the end; optional
    text_column_names: str = "sentence"  # comma-separated: two columns are passed as a pair
    label_column_name: str = "label"
    max_seq_length: int = 64  # notebook 03's max_length: longer texts are truncated

    def __post_init__(self):
        self.text_columns = [name.strip() for name in self.text_column_names.split(",")]
        if len(self.text_columns) not in (1, 2):
            sys.exit(f"--text_column_names takes one column or two (a pair), got {self.text_columns}")


def parse_arguments(argv=None):
    """The data arguments and TrainingArguments from the command line (``argv``, default ``sys.argv[1:]``)."""
    parser = HfArgumentParser((DataArguments, TrainingArguments))
    parser.set_defaults(**RECIPE, **CHOICES)
    return parser.parse_args_into_dataclasses(args=argv)


def load_raw(data: DataArguments, seed: int) -> DatasetDict:
    """Train, selection and (if given) validation splits, the labels cast to ClassLabel (the sorted training labels)."""
    if data.train_file:
        files = {"train": data.train_file, **({"validation": data.validation_file} if data.validation_file else {})}
        builder = "csv" if data.train_file.endswith(".csv") else "json"  # .json or .jsonl: one object a line
        raw = load_dataset(builder, data_files=files)
    else:
        raw = load_dataset(data.dataset_name, data.dataset_config_name)
    raw = DatasetDict({split: raw[split] for split in ("train", "validation") if split in raw})
    column = data.label_column_name
    missing = [name for name in (*data.text_columns, column) if name not in raw["train"].column_names]
    if missing:
        sys.exit(f"the training data has no column {missing}, only {raw['train'].column_names}: "
                 "set --text_column_names and --label_column_name")
    if not isinstance(raw["train"].features[column], ClassLabel):  # CoLA's labels are named already
        values = sorted(set(raw["train"][column]))  # strings or integers
        index = {value: i for i, value in enumerate(values)}
        unknown = {v for split in raw.values() for v in split[column]} - index.keys()
        if unknown:
            sys.exit(f"validation labels not in the training data: {sorted(map(str, unknown))}")
        raw = raw.map(lambda batch: {column: [index[v] for v in batch[column]]}, batched=True)
        raw = raw.cast_column(column, ClassLabel(names=[str(value) for value in values]))
    split = raw["train"].train_test_split(test_size=0.1, stratify_by_column=column, seed=seed)  # notebook 03's
    raw["train"], raw["selection"] = split["train"], split["test"]
    return raw


def compute_metrics(eval_pred):
    logits, labels = eval_pred
    predictions = np.argmax(logits, axis=-1)
    # scikit-learn's MCC: the number evaluate.load("matthews_correlation") gives, without fetching its script
    return {"matthews_correlation": float(matthews_corrcoef(labels, predictions)),
            "accuracy": float(accuracy_score(labels, predictions))}


def main(argv=None):
    data, args = parse_arguments(argv)
    if int(os.environ.get("WORLD_SIZE", "1")) > args.world_size:  # each process would train alone, all saving
        sys.exit("the processes did not join one group: without GPUs, add --use_cpu True (they then use gloo)")
    with args.main_process_first(desc="loading the data"):  # one process loads first, the others read its cache
        raw = load_raw(data, args.seed)
    label_names = raw["train"].features[data.label_column_name].names
    id2label = dict(enumerate(label_names))
    label2id = {name: i for i, name in id2label.items()}

    tokenizer = AutoTokenizer.from_pretrained(data.model_name_or_path)
    if tokenizer.pad_token is None:  # GPT-2 and Llama ship without one; BERT-style encoders have [PAD]
        tokenizer.pad_token = tokenizer.eos_token

    def tokenize(batch):
        texts = [batch[name] for name in data.text_columns]  # one column, or two passed as a pair
        encoded = tokenizer(*texts, truncation=True, max_length=data.max_seq_length)
        return {**encoded, "labels": batch[data.label_column_name]}

    with args.main_process_first(desc="tokenizing"):
        tokenized = raw.map(tokenize, batched=True, remove_columns=raw["train"].column_names)

    model = AutoModelForSequenceClassification.from_pretrained(
        data.model_name_or_path, num_labels=len(id2label), id2label=id2label, label2id=label2id)
    model.config.pad_token_id = tokenizer.pad_token_id

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["selection"],  # chooses the epoch
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),  # pads each batch to its longest text
        compute_metrics=compute_metrics,
    )
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    scored_on = "validation" if "validation" in tokenized else "selection"  # selection: optimistic, it chose
    metrics = trainer.evaluate(tokenized[scored_on], metric_key_prefix=scored_on)  # the kept epoch's model
    eval_metrics = {key.removeprefix(f"{scored_on}_"): value for key, value in metrics.items()}
    eval_metrics.pop("epoch", None)  # the Trainer's last epoch, not always the kept one
    eval_metrics["scored_on"] = scored_on
    eval_metrics["kept_checkpoint"] = os.path.basename(trainer.state.best_model_checkpoint or "")
    trainer.save_model(args.output_dir)  # the main process writes the model and its tokenizer
    if trainer.is_world_process_zero():
        with open(os.path.join(args.output_dir, "eval_metrics.json"), "w") as file:
            json.dump(eval_metrics, file, indent=2)
        sizes = ", ".join(f"{name} {len(split):,}" for name, split in tokenized.items())
        print(f"classes: {label_names}; texts: {sizes}; scores on {scored_on}:")
        print(json.dumps(eval_metrics, indent=2))
    return eval_metrics


if __name__ == "__main__":
    main()

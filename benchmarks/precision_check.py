"""Does bf16 autocast change MCC beyond run-to-run noise? Tiny profile, five seeds, fp32 vs bf16.

    .venv/bin/python benchmarks/precision_check.py

Prints the validation MCC of each seed in both precisions. GPT-2 small itself cannot be checked where the hub is
out of reach; on a machine with network, run with WORKSHOP_PROFILE=full (10 to 20 minutes per training run on a CPU).
"""
import os
import tempfile
os.environ.setdefault("WORKSHOP_PROFILE", "tiny")
from cola_workshop import notebook
from cola_workshop.settings import load_settings
from cola_workshop.data import load_cola
from cola_workshop.models import load_tokenizer, load_classifier
from transformers import TrainingArguments, Trainer, DataCollatorWithPadding, set_seed
from sklearn.metrics import matthews_corrcoef
notebook.quiet_libraries()
s = load_settings()
tok = load_tokenizer(s.model)
ds = load_cola(s).map(lambda b: tok(b["sentence"], truncation=True, max_length=64), batched=True)
for seed in (1, 2, 3, 4, 5):
    row = []
    for bf16 in (False, True):
        set_seed(seed)
        m = load_classifier(s.model, tok)
        args = TrainingArguments(output_dir=tempfile.mkdtemp(), learning_rate=s.learning_rate, num_train_epochs=s.epochs, per_device_train_batch_size=s.batch_size, warmup_steps=0.1, weight_decay=0.01,
            train_sampling_strategy="group_by_length", save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True, logging_strategy="no", seed=seed, use_cpu=True, bf16=bf16)
        tr = Trainer(model=m, args=args, train_dataset=ds["train"], processing_class=tok, data_collator=DataCollatorWithPadding(tok))
        tr.train()
        p = tr.predict(ds["validation"])
        row.append(matthews_corrcoef(p.label_ids, p.predictions.argmax(-1)))
    print(f"seed {seed}: fp32 {row[0]:.3f}  bf16 {row[1]:.3f}", flush=True)

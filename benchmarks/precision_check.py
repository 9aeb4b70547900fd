"""Does bf16 autocast change MCC beyond seed noise? A run's recipe, five seeds, each in fp32 and in bf16.

    .venv/bin/cola-workshop run --profile tiny --to 04 --outputs RUN      # or any run that got past notebook 04
    .venv/bin/python benchmarks/precision_check.py RUN

The recipe is that run's (notebook 04's saved arguments, notebook 03's split and tokenizer, the model it used),
trained without checkpoints; it prints each seed's validation MCC in both precisions. GPT-2 small itself needs
the hub or a prefetched kit (a full-profile run: 10 to 20 minutes per training on a CPU).
"""

import json
import sys
import tempfile
from pathlib import Path

from recipe_run import CountingCollator, make_trainer, recipe_parts  # beside this script

REPO_ROOT = Path(__file__).resolve().parents[1]
QUIET = {"save_strategy": "no", "eval_strategy": "no", "load_best_model_at_end": False, "logging_strategy": "no"}


def validation_mcc(outputs: Path, model: str, seed: int, bf16: bool) -> float:
    from sklearn.metrics import matthews_corrcoef

    workdir = tempfile.mkdtemp(prefix="precision_")
    parts = recipe_parts(outputs, model, "workshop", workdir, seed=seed, bf16=bf16, **QUIET)
    trainer = make_trainer(parts, CountingCollator(parts["tokenizer"], None))
    trainer.train()
    prediction = trainer.predict(parts["validation"])
    return matthews_corrcoef(prediction.label_ids, prediction.predictions.argmax(-1))


if __name__ == "__main__":
    import transformers

    transformers.logging.set_verbosity_error()  # no weight-loading reports between the lines of figures
    transformers.utils.logging.disable_progress_bar()
    run = Path(sys.argv[1])
    model = json.loads((run / "03_preprocessing" / "manifest.json").read_text())["settings"]["model"]
    model = str(REPO_ROOT / model) if (REPO_ROOT / model).is_dir() else model  # the tiny profile's data/tiny-gpt2
    for seed in (1, 2, 3, 4, 5):
        fp32, bf16 = (validation_mcc(run, model, seed, bf16) for bf16 in (False, True))
        print(f"seed {seed}: fp32 {fp32:.3f}  bf16 {bf16:.3f}", flush=True)

"""A Hugging Face style model card (README.md) for every model the workshop trains, and a safe way to share it.

Where the card lives, and why:

* Notebook 05 calls ``write_model_card(settings, folder)`` *inside* ``with save_stage(settings, "05_training") as
  folder:``, after the model and ``eval_metrics.json`` are written. The card goes into ``model/README.md`` before the
  stage is sealed, so the manifest's checksums cover it and the folder is exactly what ``push_to_hub`` would upload.
  Writing into a sealed stage would make ``load_stage`` call it "modified", so that is refused.
* Notebook 06 must not touch 05's stage either. ``update_model_card(settings, folder, comparison, differences)``
  writes the same card plus the three-way comparison (with its bootstrap intervals and the paired differences) into
  06's own stage (``06_usage/model_card.md``); ``push_to_hub_or_explain`` uploads that one as README.md when given.

The card carries only facts that were recorded: the metrics are copied from ``eval_metrics.json`` unrounded into the
front matter, so the two always agree. Writing a card never fails a training run for a missing detail: what was not
recorded is left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import WorkshopError
from .hardware import precision_label
from .weights import IncompleteError, checkpoint_parameters
from .settings import Settings, display_path, local_folder, resolve_path

CARD_NAME = "README.md"  # the name the hub shows as the model's page
COMPARISON_CARD = "model_card.md"  # 06's copy with the comparison, in 06's stage
LICENSE_NOTE = "the base model's own license applies: check it before sharing"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_USAGE_LINE = re.compile(r'(pipeline\("text-classification", model=)"[^"]*"')


class ModelCardError(WorkshopError, RuntimeError):
    """The card cannot be written (no metrics yet, or the target is a sealed stage)."""


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _parameters(model_dir: Path) -> int | None:
    """Parameter count from the saved weights' safetensors headers (all shards; no torch), None if unreadable."""
    try:
        return checkpoint_parameters(model_dir) or None
    except IncompleteError:
        return None


def _base_model(settings: Settings) -> str | None:
    """The base model's hub id when it is known (the hub checks ``base_model``), else None."""
    if _HUB_ID.match(settings.model) and local_folder(settings.model) is None:
        return settings.model
    config = _read(resolve_path(settings.model) / "config.json") or {}
    name = str(config.get("_name_or_path", ""))
    return name if _HUB_ID.match(name) and local_folder(name) is None else None


def _best_epoch(log_history: list | None) -> float | None:
    evaluations = [e for e in log_history or [] if "eval_matthews_correlation" in e]
    return max(evaluations, key=lambda e: e["eval_matthews_correlation"])["epoch"] if evaluations else None


def collect_facts(settings: Settings, stage_dir: Path) -> dict:
    """What the card says, from what notebooks 02, 04 and 05 recorded (02 and 04 optional, 05's metrics not)."""
    stage_dir = Path(stage_dir)
    metrics = _read(stage_dir / "eval_metrics.json")
    if not metrics or "matthews_correlation" not in metrics:
        raise ModelCardError(
            f"no validation metrics in {display_path(stage_dir)}/eval_metrics.json: write them before the card "
            "(notebooks/05_training.ipynb saves them in its last cell)"
        )
    return {
        "profile": settings.profile,
        "model": settings.model,
        "base_model": _base_model(settings),
        "data": settings.data,
        "max_train_samples": settings.max_train_samples,
        "max_length": settings.max_length,
        "metrics": metrics,
        "training_args": _read(settings.stage_dir("04_training_args") / "training_args.json") or {},
        "data_facts": _read(settings.stage_dir("02_exploration") / "facts.json") or {},
        "best_epoch": _best_epoch(_read(stage_dir / "log_history.json")),
        "parameters": _parameters(stage_dir / "model"),
        "model_path": display_path(settings.stage_dir("05_training") / "model"),
    }


def _license(facts: dict) -> str:
    base = (facts["base_model"] or "").lower()
    return "mit" if facts["profile"] == "tiny" or base.startswith(("openai-community/gpt2", "gpt2")) else "other"


def front_matter(facts: dict) -> str:
    """The card's YAML header: license, base model, data, metrics and a model-index with the validation scores."""
    from huggingface_hub import EvalResult, ModelCardData

    tiny, sample = facts["profile"] == "tiny", _is(facts["data"], "data/cola_tiny")
    dataset = ("cola_tiny", "cola_tiny (a sample of CoLA v1.1)") if sample else ("nyu-mll/glue", "GLUE CoLA")
    common = dict(task_type="text-classification", task_name="Acceptability (CoLA)", dataset_type=dataset[0],
                  dataset_name=dataset[1], dataset_config=None if sample else "cola", dataset_split="validation")
    metrics = facts["metrics"]
    results = [EvalResult(metric_type="matthews_correlation", metric_name="Matthews correlation (MCC)",
                          metric_value=metrics["matthews_correlation"], **common)]
    if "accuracy" in metrics:
        results.append(EvalResult(metric_type="accuracy", metric_name="Accuracy", metric_value=metrics["accuracy"], **common))
    data = ModelCardData(
        language=["en"], license=_license(facts), base_model=facts["base_model"],
        datasets=None if sample else ["nyu-mll/glue"], metrics=["matthews_correlation", "accuracy"],
        pipeline_tag="text-classification", library_name="transformers",
        tags=["text-classification", "cola", "workshop"] + (["rehearsal"] if tiny else []),
        model_name=_model_name(facts), eval_results=results,
    )
    return f"---\n{data.to_yaml()}\n---\n"


def _model_name(facts: dict) -> str:
    base = facts["base_model"] or Path(facts["model"]).name
    return f"{base.split('/')[-1]}-cola" + ("-rehearsal" if facts["profile"] == "tiny" else "")


def _is(value: str, repo_folder: str) -> bool:
    """True when a settings value names one of the repository's own folders (the tiny profile's assets)."""
    return value != "hub" and resolve_path(value).resolve() == resolve_path(repo_folder).resolve()


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _describe_model(facts: dict) -> str:
    if _is(facts["model"], "data/tiny-gpt2"):
        what = ("`data/tiny-gpt2`, the workshop's tiny stand-in for GPT-2 (GPT-2's own tokenizer on a small model "
                "pretrained on the text of CoLA training sentences outside the sample; see its README)")
    elif facts["base_model"]:
        what = f"[`{facts['base_model']}`](https://huggingface.co/{facts['base_model']})"
    else:
        what = f"the local checkpoint `{display_path(facts['model'])}`"
    size = f", {facts['parameters'] / 1e6:.2f} million parameters" if facts["parameters"] else ""
    return f"{what}{size}, with a new two-label classification head (0 `unacceptable`, 1 `acceptable`)"


def _describe_data(facts: dict) -> list[str]:
    if _is(facts["data"], "data/cola_tiny"):
        source = ("`data/cola_tiny`: a small stratified sample of the CoLA v1.1 public release, real sentences with "
                  "their labels (see its README)")
    elif facts["data"] == "hub":
        source = "GLUE's copy of CoLA (`nyu-mll/glue`, configuration `cola`; CoLA v1.0) from the Hugging Face hub"
    else:
        source = f"CoLA from the local folder `{display_path(facts['data'])}`"
    lines = [f"- Source: {source}."]
    rows = facts["data_facts"].get("rows", {})
    if rows:
        used = "all" if facts["max_train_samples"] is None else f"a seeded random subset of {facts['max_train_samples']:,}"
        lines.append(f"- Training: the `train` split ({_count(rows.get('train'))} sentences; {used} used), less a "
                     "stratified 10% held out as the selection split, which chose the epoch kept.")
        in_domain, validation = facts["data_facts"].get("in_domain_validation_rows"), rows.get("validation")
        both = isinstance(in_domain, int) and isinstance(validation, int)
        parts = f": {in_domain:,} in-domain + {validation - in_domain:,} out-of-domain" if both else ""
        lines.append(f"- Validation: the `validation` split ({_count(validation)} sentences{parts}): the scores "
                     "below, computed once, after training; it chose nothing.")
        lines.append(f"- Test: {_count(rows.get('test'))} sentences without labels (GLUE keeps them): not used.")
    lines.append(f"- Sentences are cut to {facts['max_length']} tokens.")
    return lines


def _training_rows(facts: dict) -> list[tuple[str, str]]:
    args = facts["training_args"]
    if not args:
        return []
    warmup = args.get("warmup_steps", 0)
    warmup = f"{warmup:.0%} of the steps" if isinstance(warmup, float) and 0 < warmup < 1 else f"{warmup} steps"
    best = f"the best selection-split `{args.get('metric_for_best_model')}`" if args.get("load_best_model_at_end") else "the last"
    return [
        ("learning rate", f"{args.get('learning_rate')} ({args.get('lr_scheduler_type')} schedule, warm-up {warmup})"),
        ("batch size", f"{args.get('per_device_train_batch_size')} per device"),
        ("epochs", _number(args.get("num_train_epochs"))),
        ("weight decay", _number(args.get("weight_decay"))),
        ("precision", precision_label(args)),
        ("batches", "grouped by length" if args.get("train_sampling_strategy") == "group_by_length" else "random order"),
        ("epoch kept", best + (f" (epoch {_number(facts['best_epoch'])})" if facts["best_epoch"] is not None else "")),
        ("seed", str(args.get("seed"))),
    ]


def _comparison_rows(comparison) -> dict:
    """{name: {"MCC": x, "accuracy": y, ...}} from notebook 06's DataFrame or from ``report.json``'s "validation"."""
    if hasattr(comparison, "to_dict"):
        comparison = comparison.to_dict(orient="index")
    return {str(name): dict(values) for name, values in dict(comparison).items()}


def _interval(values: dict) -> str:
    low, high = values.get("95% low"), values.get("95% high")
    return f"{low:.2f} to {high:.2f}" if isinstance(low, (int, float)) and isinstance(high, (int, float)) else "?"


def _reading(low: float, high: float) -> str:
    """What a paired interval of "fine-tuned minus baseline" says, in words."""
    if low > 0:
        return "fine-tuning helped"
    if high < 0:
        return "the baseline did better"
    return "cannot be told apart"


def _comparison_section(comparison, differences=None) -> list[str]:
    rows = _comparison_rows(comparison)
    with_intervals = any("95% low" in values for values in rows.values())
    lines = ["## Did fine-tuning help?", "",
             "Every model below was scored on the same validation sentences"
             + (" (95% bootstrap intervals: sentences resampled with replacement):" if with_intervals else ":"), ""]
    if with_intervals:
        lines += ["| model | MCC | MCC, 95% interval | accuracy |", "|---|---|---|---|"]
        lines += [f"| {name} | {values.get('MCC', float('nan')):.3f} | {_interval(values)} | "
                  f"{values.get('accuracy', float('nan')):.3f} |" for name, values in rows.items()]
    else:
        lines += ["| model | MCC | accuracy |", "|---|---|---|"]
        lines += [f"| {name} | {values.get('MCC', float('nan')):.3f} | {values.get('accuracy', float('nan')):.3f} |"
                  for name, values in rows.items()]
    if differences:
        lines += ["", "Paired bootstrap of the difference in MCC (every model scored on the same resamples):", "",
                  "| difference | MCC | 95% interval | reading |", "|---|---|---|---|"]
        for name, values in _comparison_rows(differences).items():
            low, high = values["95% low"], values["95% high"]
            lines.append(f"| {name} | {values['difference']:+.3f} | {low:+.2f} to {high:+.2f} | "
                         f"{_reading(low, high)} |")
    lines += ["", "The zero-shot baseline (when listed) is the base model's own judgement: a threshold on its SLOR "
              "score, with no weight changed. The fine-tuned row is this model; its epoch was chosen on the "
              "selection split, held out from training, not on these sentences.", ""]
    return lines


def _use_and_limits(facts: dict) -> list[str]:
    if facts["profile"] == "tiny":
        return ["## Intended use and limits", "",
                "None beyond rehearsal: this model shows that the workshop's pipeline runs end to end (offline, in "
                "about 2 minutes). It was pretrained on only about 75,000 tokens of CoLA sentences, and its "
                "scores say nothing about how well GPT-2 small learns CoLA. Do not use it to judge sentences.", ""]
    return ["## Intended use and limits", "",
            "- Intended use: learning and teaching fine-tuning; scoring whether a short English sentence is "
            "grammatically acceptable in the sense of CoLA (judgements by linguists, from linguistics publications).",
            "- Not a grammar checker: it gives a probability, no correction and no reason. Acceptability is not "
            "truth, style or fluency, and a validation MCC well below 1 means frequent mistakes: do not use it to "
            "grade people's writing.",
            "- English only, short sentences like CoLA's. It does worse on sentences from sources it was not trained "
            "on (CoLA's out-of-domain validation part) and on long sentences: see notebook 06's error analysis.",
            "- It inherits the biases of its base model's web-text pretraining and of CoLA's example sentences.", ""]


def render_card(facts: dict, comparison=None, differences=None) -> str:
    """The whole card as Markdown: front matter, summary, data, training, results, [comparison,] use, usage."""
    metrics, tiny = facts["metrics"], facts["profile"] == "tiny"
    lines = [front_matter(facts), f"# {_model_name(facts)}", "",
             f"{_describe_model(facts)}, fine-tuned to judge whether an English sentence is grammatically acceptable "
             "(CoLA, the Corpus of Linguistic Acceptability), by notebook 05 of the CoLA fine-tuning workshop.", ""]
    if tiny:
        lines += ["> **Rehearsal model.** This card comes from the workshop's `tiny` profile: a tiny model trained on a "
                  "small sample of CoLA, so that the notebooks run offline in about 2 minutes. Its numbers only show "
                  "that every step works; they are not a result.", ""]
    lines += ["## Data", "", *_describe_data(facts), ""]
    rows = _training_rows(facts)
    if rows:
        lines += ["## Training", "", "With the `Trainer` of transformers; the arguments that matter:", "",
                  "| argument | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows), ""]
    lines += ["## Results (validation)", "", "| metric | value |", "|---|---|",
              f"| Matthews correlation (MCC) | {metrics['matthews_correlation']:.3f} |"]
    if "accuracy" in metrics:
        lines.append(f"| accuracy | {metrics['accuracy']:.3f} |")
    lines += ["", "MCC is CoLA's official metric: 0 is guessing, 1 perfect; unlike accuracy it is not flattered by "
              "the majority label (most CoLA sentences are acceptable). The epoch kept was chosen on the selection "
              "split, so these sentences score the model once, unbiased by that choice.", ""]
    if comparison is not None:
        lines += _comparison_section(comparison, differences)
    lines += _use_and_limits(facts)
    if _license(facts) == "other":
        lines += ["## License", "", f"Not stated here: {LICENSE_NOTE}.", ""]
    lines += ["## How to use", "", "```python", "from transformers import pipeline",
              f'classifier = pipeline("text-classification", model="{facts["model_path"]}", top_k=None)',
              'print(classifier("The children were singing in the garden."))', "```", ""]
    return "\n".join(lines)


def write_model_card(settings: Settings, stage_dir: Path) -> Path:
    """Write ``model/README.md`` into notebook 05's stage folder while it is being written (inside ``save_stage``).

    Call it after ``eval_metrics.json`` and the model are saved. Refuses a sealed stage (one with a manifest),
    because a file added there afterwards would make the stage "modified" for every later notebook.
    """
    stage_dir = Path(stage_dir)
    if (stage_dir / "manifest.json").exists():
        raise ModelCardError(
            f"{display_path(stage_dir)} is a finished stage: adding a card would mark it modified; call "
            'write_model_card inside `with save_stage(settings, "05_training") as folder:`'
        )
    if not (stage_dir / "model" / "config.json").is_file():
        raise ModelCardError(f"no saved model in {display_path(stage_dir)}/model: save the model before its card")
    path = stage_dir / "model" / CARD_NAME
    path.write_text(render_card(collect_facts(settings, stage_dir)))
    return path


def update_model_card(settings: Settings, stage_dir: Path, comparison, differences=None) -> Path:
    """Notebook 06: 05's card plus the three-way comparison, written to 06's own stage as ``model_card.md``
    (05's stage stays untouched). ``comparison``: 06's DataFrame (rows = models; columns MCC, accuracy, and the
    bootstrap interval's "95% low" and "95% high" when given). ``differences``: {"fine-tuned minus <model>":
    {"difference", "95% low", "95% high"}}, the paired bootstrap, shown with its reading when given."""
    from .artifacts import load_stage

    facts = collect_facts(settings, load_stage(settings, "05_training"))
    path = Path(stage_dir) / COMPARISON_CARD
    path.write_text(render_card(facts, comparison, differences))
    return path


def card_metrics(card: Path) -> dict:
    """The validation metrics a card's front matter states, e.g. {"matthews_correlation": 0.35, "accuracy": 0.72}."""
    import yaml

    text = Path(card).read_text()
    if not text.startswith("---\n"):
        raise ModelCardError(f"{display_path(card)} has no YAML front matter")
    header = yaml.safe_load(text[4 : text.index("\n---", 4)])
    results = header["model-index"][0]["results"]
    return {metric["type"]: metric["value"] for result in results for metric in result["metrics"]}


def _card_for_hub(model_dir: Path, card: Path | None, repo_id: str) -> bytes | None:
    """The card to upload as README.md (06's with the comparison when given), its usage line naming the repo."""
    source = Path(card) if card is not None else model_dir / CARD_NAME
    if not source.is_file():
        return None
    return _USAGE_LINE.sub(rf'\1"{repo_id}"', source.read_text()).encode()


def _push(model_dir: Path, repo_id: str | None, card: Path | None, private: bool) -> str:
    from .hub import hub_endpoint, hub_reachable

    if not repo_id:
        return ('not pushed: no repo id given: set it to one like "your-username/gpt2-cola" (after logging in with '
                "`hf auth login`)")
    if not _HUB_ID.match(repo_id):
        return f"not pushed: {repo_id!r} is not a hub repo id: use the form 'your-username/gpt2-cola'"
    if not (model_dir / "config.json").is_file():
        return f"not pushed: {display_path(model_dir)} holds no saved model: run notebooks/05_training.ipynb first"
    if not hub_reachable():
        return (f"not pushed: the Hugging Face hub ({hub_endpoint()}) cannot be reached from here: run this again on a "
                "machine with a network (copy the model folder there)")
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    token = get_token()
    if not token:
        return ("not pushed: you are not logged in to the Hugging Face hub: run `hf auth login` (or set HF_TOKEN to a "
                "token with write access) and try again")
    readme = _card_for_hub(model_dir, card, repo_id)
    files = [p for p in sorted(model_dir.rglob("*")) if p.is_file() and not (readme and p.name == CARD_NAME)]
    operations = [CommitOperationAdd(path_in_repo=p.relative_to(model_dir).as_posix(), path_or_fileobj=str(p)) for p in files]
    if readme:
        operations.append(CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=readme))
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.create_commit(repo_id, operations=operations, commit_message="Upload a model fine-tuned on CoLA")
    except Exception as error:  # noqa: BLE001 - sharing is optional: any refusal becomes one line, never a crash
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"not pushed: the hub refused ({reason}): check the repo id and that your token may write to it"
    return f"pushed {len(operations)} files to {hub_endpoint()}/{repo_id}" + (" (private)" if private else "")


def push_to_hub_or_explain(model_dir, repo_id: str | None = None, card=None, private: bool = True) -> str:
    """Upload the model folder (weights, config, tokenizer, card) to the hub as ``repo_id``, where that can work.

    Sharing is optional and a workshop room is often offline, so this never raises: it prints and returns one line,
    either where the model went or why it was not pushed and what to do (give a repo id, get a network, log in).
    ``card``: a card to upload as README.md instead of the folder's own (06's ``model_card.md``).
    """
    message = _push(Path(model_dir), repo_id, card, private)
    print(message)
    return message

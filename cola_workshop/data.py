"""Loading CoLA: from the hub, or from a local folder, always as the same DatasetDict.

Sources accepted by ``--data``:

- ``hub``: ``nyu-mll/glue``, config ``cola`` (GLUE's copy, built on CoLA v1.0).
- a folder in the CoLA public release layout: ``raw/in_domain_train.tsv``, ``raw/in_domain_dev.tsv``,
  ``raw/out_of_domain_dev.tsv`` (the ``raw/`` level may be omitted) and, optionally, GLUE's unlabeled
  ``glue_test/test.tsv`` (or ``test.tsv``);
- a folder in GLUE's layout: ``train.tsv``, ``dev.tsv`` and optionally ``test.tsv``;
- a folder written by ``cola-workshop prefetch`` (a DatasetDict saved with ``save_to_disk``).

Whatever the source, the result has splits train / validation (in-domain + out-of-domain dev) / test (where
there is a test file) and columns ``sentence``, ``label`` (ClassLabel unacceptable/acceptable, -1 where unknown)
and ``idx``. Notebook 02 writes the library calls (``load_dataset``, ``load_from_disk``) itself; this module checks
the files first (:func:`cola_files`) and gives the command line and the tests the same result (:func:`load_cola`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
from pathlib import Path

from .errors import WorkshopError
from .hub import OFFLINE_FIX, HubUnreachableError, hub_or_cache, hub_reachable
from .settings import Settings, display_path, resolve_path
from .sources import cached_on_hub, use_hub_cache_only

HUB_ID, HUB_CONFIG = "nyu-mll/glue", "cola"
LABEL_NAMES = ["unacceptable", "acceptable"]
# GLUE's validation split is CoLA's in-domain dev (527 rows) followed by its out-of-domain dev (516 rows).
HUB_IN_DOMAIN_VALIDATION = 527
SAVED_INFO = "cola_source.json"

LAYOUT_HELP = (
    "point --data / WORKSHOP_DATA at a folder with raw/in_domain_train.tsv, raw/in_domain_dev.tsv and "
    "raw/out_of_domain_dev.tsv (CoLA's release) or train.tsv and dev.tsv (GLUE's), or use --data hub"
)


class DataFormatError(WorkshopError, ValueError):
    """A data folder or file is not in a layout or format the workshop can read."""


def features():
    from datasets import ClassLabel, Features, Value

    return Features({"sentence": Value("string"), "label": ClassLabel(names=LABEL_NAMES), "idx": Value("int32")})


@contextlib.contextmanager
def _utf8(path: Path):
    """The file opened as UTF-8 text; bytes that are not UTF-8 give a DataFormatError naming the file."""
    with open(path, encoding="utf-8", newline="") as handle:
        try:
            yield handle
        except UnicodeDecodeError:
            raise DataFormatError(
                f"{display_path(path)} is not UTF-8 text: save it as UTF-8 or restore the original file"
            ) from None


def read_labeled_tsv(path: Path) -> list[dict]:
    """Rows of a CoLA file: source, label, original mark, sentence; no header. Errors name file and line."""
    rows = []
    with _utf8(path) as handle:
        for line_number, fields in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            where = f"{display_path(path)}, line {line_number}"
            if len(fields) != 4:
                raise DataFormatError(
                    f"{where}: expected 4 tab-separated columns (source, label, mark, sentence), found "
                    f"{len(fields)}: fix that line or restore the original file"
                )
            source, label, _mark, sentence = fields
            if label not in ("0", "1"):
                raise DataFormatError(f"{where}: label must be 0 or 1, found {label!r}: fix that line or restore the file")
            if not sentence.strip():
                raise DataFormatError(f"{where}: the sentence is empty: fix that line or restore the original file")
            rows.append({"source": source, "label": int(label), "sentence": sentence})
    return rows


def read_test_tsv(path: Path) -> list[str]:
    """Sentences of GLUE's unlabeled test file (header ``index<TAB>sentence``)."""
    sentences = []
    with _utf8(path) as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != ["index", "sentence"]:
            raise DataFormatError(
                f"{display_path(path)}, line 1: expected the header 'index<TAB>sentence' of GLUE's test.tsv: "
                "restore the original file"
            )
        for line_number, fields in enumerate(reader, 2):
            if len(fields) != 2 or not fields[1].strip():
                raise DataFormatError(
                    f"{display_path(path)}, line {line_number}: expected 'index<TAB>sentence': "
                    "fix that line or restore the original file"
                )
            sentences.append(fields[1])
    return sentences


def detect_layout(folder: Path) -> tuple[str, Path]:
    """('cola', raw folder), ('glue', folder) or ('saved', folder); DataFormatError for anything else."""
    if (folder / "dataset_dict.json").is_file():
        return "saved", folder
    for raw in (folder / "raw", folder):
        if all((raw / name).is_file() for name in ("in_domain_train.tsv", "in_domain_dev.tsv", "out_of_domain_dev.tsv")):
            return "cola", raw
    if (folder / "train.tsv").is_file() and (folder / "dev.tsv").is_file():
        return "glue", folder
    raise DataFormatError(f"{display_path(folder)} is in neither CoLA's nor GLUE's layout: {LAYOUT_HELP}")


@dataclasses.dataclass(frozen=True)
class ColaFiles:
    """Where CoLA comes from, checked before the library call that reads it (notebook 02, :func:`load_cola`).

    Exactly one of: ``hub`` (``load_dataset("nyu-mll/glue", "cola")``), ``saved`` (a folder written by
    ``save_to_disk``, for ``load_from_disk``), or ``labeled`` (``data_files`` for ``load_dataset("csv", ...)``:
    ``{"train": [...], "validation": [in-domain dev, out-of-domain dev]}``, tab-separated, no header, the columns
    of :data:`TSV_COLUMNS`) with ``test``, GLUE's unlabeled ``test.tsv`` (header ``index<TAB>sentence``) or None.
    """

    hub: bool = False
    saved: str | None = None
    labeled: dict[str, list[str]] | None = None
    test: str | None = None


TSV_COLUMNS = ["source", "label", "mark", "sentence"]  # CoLA's release files and GLUE's train/dev.tsv


def _hub_preflight() -> None:
    """Return when ``load_dataset(HUB_ID, HUB_CONFIG)`` can work: the hub answers, or a cached copy exists (the
    process then reads caches only); else raise HubUnreachableError naming the fix."""
    from datasets import config as datasets_config

    if hub_reachable():
        return
    prepared = Path(datasets_config.HF_DATASETS_CACHE) / f"{HUB_ID.replace('/', '___')}" / HUB_CONFIG
    if prepared.is_dir() or cached_on_hub(HUB_ID, "README.md", repo_type="dataset"):
        use_hub_cache_only()
        return
    raise HubUnreachableError(
        f"the Hugging Face hub is unreachable and the dataset {HUB_ID} ({HUB_CONFIG}) is not in the local cache: "
        f"{OFFLINE_FIX}."
    )


def cola_files(data: str) -> ColaFiles:
    """What ``--data`` ``data`` names, checked: every line of a TSV file is read here first, so that a bad file
    stops with one sentence naming the file and line (:class:`DataFormatError`) before ``load_dataset`` reads it;
    an unreachable hub without a cached copy stops with one naming the fix."""
    if data == "hub":
        _hub_preflight()
        return ColaFiles(hub=True)
    folder = resolve_path(data)
    if not folder.is_dir():
        raise DataFormatError(f"data folder {display_path(folder)} does not exist: {LAYOUT_HELP}")
    layout, root = detect_layout(folder)
    if layout == "saved":
        return ColaFiles(saved=str(root))
    if layout == "cola":
        labeled = {"train": [root / "in_domain_train.tsv"],
                   "validation": [root / "in_domain_dev.tsv", root / "out_of_domain_dev.tsv"]}
        test_candidates = [folder / "glue_test" / "test.tsv", folder / "test.tsv"]
    else:
        labeled = {"train": [root / "train.tsv"], "validation": [root / "dev.tsv"]}
        test_candidates = [root / "test.tsv"]
    for paths in labeled.values():
        for path in paths:
            read_labeled_tsv(path)
    test = next((path for path in test_candidates if path.is_file()), None)
    if test is not None:
        read_test_tsv(test)
    return ColaFiles(labeled={split: [str(p) for p in paths] for split, paths in labeled.items()},
                     test=None if test is None else str(test))


def _like_the_hub(dataset, test_file: str | None):
    """CoLA's TSV columns reduced to the hub's: sentence, label (ClassLabel), idx; test labels -1 (unknown)."""
    from datasets import load_dataset

    dataset = dataset.select_columns(["sentence", "label"])
    if test_file is not None:
        test = load_dataset("csv", data_files=test_file, delimiter="\t", quoting=3, split="train")
        dataset["test"] = test.select_columns(["sentence"]).map(lambda row: {"label": -1})
    return dataset.map(lambda row, i: {"idx": i}, with_indices=True).cast(features())


def load_cola(settings: Settings):
    """CoLA as a DatasetDict (train / validation / test when there is one), from the hub or a local folder,
    for the command line, the benchmarks and the tests: notebook 02 writes the same library calls itself.

    With ``max_train_samples`` set, the training split is a seeded random subset of that size.
    """
    from datasets import load_dataset, load_from_disk

    files = cola_files(settings.data)
    if files.hub:
        with hub_or_cache(f"the dataset {HUB_ID} ({HUB_CONFIG})"):
            dataset = load_dataset(HUB_ID, HUB_CONFIG)
    elif files.saved:
        dataset = load_from_disk(files.saved)
    else:
        dataset = load_dataset("csv", data_files=files.labeled, delimiter="\t", quoting=3, column_names=TSV_COLUMNS)
        dataset = _like_the_hub(dataset, files.test)
    if settings.max_train_samples is not None and settings.max_train_samples < len(dataset["train"]):
        dataset["train"] = dataset["train"].shuffle(seed=settings.seed).select(range(settings.max_train_samples))
    return dataset


def in_domain_validation_rows(settings: Settings) -> int:
    """How many leading rows of the validation split are CoLA's in-domain dev set (the rest is out-of-domain)."""
    if settings.data == "hub":
        return HUB_IN_DOMAIN_VALIDATION
    layout, root = detect_layout(resolve_path(settings.data))
    if layout == "cola":
        return len(read_labeled_tsv(root / "in_domain_dev.tsv"))
    if layout == "saved":
        import json

        info = root / SAVED_INFO
        return json.loads(info.read_text())["in_domain_validation_rows"] if info.is_file() else HUB_IN_DOMAIN_VALIDATION
    # GLUE's dev.tsv: in-domain rows come from the same sources as the training sentences.
    train_sources = {row["source"] for row in read_labeled_tsv(root / "train.tsv")}
    dev = read_labeled_tsv(root / "dev.tsv")
    return sum(1 for row in dev if row["source"] in train_sources)


def save_for_offline(settings: Settings, folder: Path) -> Path:
    """Write the dataset of ``settings`` to ``folder`` so that ``--data folder`` works without a network."""
    import json

    dataset = load_cola(settings)
    dataset.save_to_disk(str(folder))
    (folder / SAVED_INFO).write_text(
        json.dumps({"source": settings.data, "in_domain_validation_rows": in_domain_validation_rows(settings)}) + "\n"
    )
    return folder

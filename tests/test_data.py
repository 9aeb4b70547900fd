"""Tests for cola_workshop.data: CoLA from the tiny sample, GLUE- and CoLA-layout folders, prefetch copies.

The folders built in tmp_path hold invented sentences only. The real CoLA v1.1 corpus is read (never copied)
from ../shared/data/cola_public when that folder exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cola_workshop import hub
from cola_workshop.data import (
    HUB_IN_DOMAIN_VALIDATION,
    LABEL_NAMES,
    SAVED_INFO,
    DataFormatError,
    detect_layout,
    features,
    in_domain_validation_rows,
    load_cola,
    read_labeled_tsv,
    save_for_offline,
)
from cola_workshop.settings import REPO_ROOT, load_settings

TINY = REPO_ROOT / "data" / "cola_tiny"
REAL_COLA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cola_public"

# Invented sentences: (source, label, sentence). Sources a1/b2 are "in-domain", z9 "out-of-domain".
TRAIN = [
    ("a1", 1, "The otter swam across the pond."),
    ("a1", 0, "The otter swam the pond across."),
    ("b2", 1, "Mina thinks that the kettle is broken."),
    ("b2", 0, "Mina thinks the kettle that is broken is."),
    ("a1", 1, 'She said "hello" to the lighthouse keeper.'),  # quotes must be kept verbatim
    ("b2", 1, "Which lamp did you fix?"),
    ("a1", 0, "Lamp which did you fix?"),
    ("b2", 1, "Every gardener waters some plants."),
]
IN_DOMAIN_DEV = [
    ("a1", 1, "The heron stood very still."),
    ("b2", 0, "The heron very still stood the."),
    ("a1", 1, "Nobody expected the parade to stop."),
]
OUT_OF_DOMAIN_DEV = [
    ("z9", 0, "Parade the expected nobody stop to."),
    ("z9", 1, "The violinist tuned her instrument."),
]
TEST = ["The baker sells warm bread.", "Bread warm the sells baker."]


def labeled_lines(rows) -> str:
    return "".join(f"{source}\t{label}\t{'' if label else '*'}\t{sentence}\n" for source, label, sentence in rows)


def unlabeled_lines(sentences) -> str:
    return "index\tsentence\n" + "".join(f"{i}\t{sentence}\n" for i, sentence in enumerate(sentences))


def write_cola_layout(folder: Path, raw_level: bool = True, test: bool = True) -> Path:
    raw = folder / "raw" if raw_level else folder
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "in_domain_train.tsv").write_text(labeled_lines(TRAIN))
    (raw / "in_domain_dev.tsv").write_text(labeled_lines(IN_DOMAIN_DEV))
    (raw / "out_of_domain_dev.tsv").write_text(labeled_lines(OUT_OF_DOMAIN_DEV))
    if test:
        (folder / "glue_test").mkdir(exist_ok=True)
        (folder / "glue_test" / "test.tsv").write_text(unlabeled_lines(TEST))
    return folder


def write_glue_layout(folder: Path, test: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text(labeled_lines(TRAIN))
    (folder / "dev.tsv").write_text(labeled_lines(IN_DOMAIN_DEV + OUT_OF_DOMAIN_DEV))
    if test:
        (folder / "test.tsv").write_text(unlabeled_lines(TEST))
    return folder


def settings_for(folder: Path | str, **overrides):
    return load_settings(environ={}, profile="tiny", data=str(folder), **overrides)


def check_structure(dataset, test: bool = True) -> None:
    """What every source gives: the hub's splits (test only where there is a test file), the hub's features,
    idx 0..n-1, unlabeled test rows."""
    assert set(dataset) == ({"train", "validation", "test"} if test else {"train", "validation"})
    for name, split in dataset.items():
        assert split.features == features(), name
        assert split.features["label"].names == LABEL_NAMES == ["unacceptable", "acceptable"]
        assert split.features["idx"].dtype == "int32"
        assert split["idx"] == list(range(len(split))), name
        assert all(isinstance(sentence, str) and sentence.strip() for sentence in split["sentence"])
    assert set(dataset["train"]["label"]) <= {0, 1}
    assert set(dataset["validation"]["label"]) <= {0, 1}
    assert not test or set(dataset["test"]["label"]) <= {-1}


# --------------------------------------------------------------------------------------------------
# The tiny sample (CoLA's public layout)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_settings():
    return load_settings(environ={}, profile="tiny")


@pytest.fixture(scope="module")
def tiny(tiny_settings):
    return load_cola(tiny_settings)


def test_tiny_sample_has_the_hubs_structure(tiny):
    check_structure(tiny)
    assert (len(tiny["train"]), len(tiny["validation"]), len(tiny["test"])) == (1000, 100 + 100, 100)
    assert tiny["test"]["label"] == [-1] * 100


def test_tiny_validation_is_in_domain_then_out_of_domain(tiny, tiny_settings):
    in_domain = read_labeled_tsv(TINY / "raw" / "in_domain_dev.tsv")
    out_of_domain = read_labeled_tsv(TINY / "raw" / "out_of_domain_dev.tsv")
    rows = in_domain + out_of_domain
    assert tiny["validation"]["sentence"] == [row["sentence"] for row in rows]
    assert tiny["validation"]["label"] == [row["label"] for row in rows]
    assert in_domain_validation_rows(tiny_settings) == 100 == len(in_domain)
    train = read_labeled_tsv(TINY / "raw" / "in_domain_train.tsv")
    assert tiny["train"]["sentence"] == [row["sentence"] for row in train]


def test_tiny_layout_is_detected_as_cola():
    assert detect_layout(TINY) == ("cola", TINY / "raw")


# --------------------------------------------------------------------------------------------------
# Invented folders in CoLA's and GLUE's layouts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw_level", [True, False])
def test_cola_layout_with_or_without_raw_level(tmp_path, raw_level):
    folder = write_cola_layout(tmp_path / "cola", raw_level=raw_level)
    settings = settings_for(folder)
    dataset = load_cola(settings)
    check_structure(dataset)
    assert dataset["train"]["sentence"] == [sentence for _, _, sentence in TRAIN]
    assert dataset["train"]["label"] == [label for _, label, _ in TRAIN]
    assert dataset["validation"]["sentence"] == [s for _, _, s in IN_DOMAIN_DEV + OUT_OF_DOMAIN_DEV]
    assert dataset["test"]["sentence"] == TEST
    assert dataset["test"]["label"] == [-1, -1]
    assert in_domain_validation_rows(settings) == len(IN_DOMAIN_DEV)
    assert 'She said "hello" to the lighthouse keeper.' in dataset["train"]["sentence"]


def test_glue_layout_gives_the_same_dataset(tmp_path):
    cola = load_cola(settings_for(write_cola_layout(tmp_path / "cola")))
    settings = settings_for(write_glue_layout(tmp_path / "glue"))
    assert detect_layout(tmp_path / "glue") == ("glue", tmp_path / "glue")
    glue = load_cola(settings)
    check_structure(glue)
    for split in ("train", "validation", "test"):
        assert glue[split].to_dict() == cola[split].to_dict(), split
    # In-domain dev rows are those whose source also appears in train.tsv.
    assert in_domain_validation_rows(settings) == len(IN_DOMAIN_DEV)


def test_test_file_is_optional(tmp_path):
    for folder in (write_cola_layout(tmp_path / "cola", test=False), write_glue_layout(tmp_path / "glue", test=False)):
        dataset = load_cola(settings_for(folder))
        check_structure(dataset, test=False)  # as the hub's structure, less the test split it lacks
        assert len(dataset["train"]) == len(TRAIN)


def test_a_glue_test_folder_next_to_the_data_folder_is_not_read(tmp_path):
    folder = write_cola_layout(tmp_path / "mine", raw_level=False, test=False)
    (tmp_path / "glue_test").mkdir()
    (tmp_path / "glue_test" / "test.tsv").write_text(unlabeled_lines(["Someone else's sentence."]))
    assert "test" not in load_cola(settings_for(folder))


# --------------------------------------------------------------------------------------------------
# Errors: one sentence naming the file, the line or the flag
# --------------------------------------------------------------------------------------------------


def test_folder_in_neither_layout_names_the_flag(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to see\n")
    (tmp_path / "train.tsv").write_text(labeled_lines(TRAIN))  # no dev.tsv: not GLUE's layout either
    settings = settings_for(tmp_path)
    with pytest.raises(DataFormatError) as error:
        load_cola(settings)
    message = str(error.value)
    assert "\n" not in message
    assert "neither CoLA's nor GLUE's layout" in message
    assert "--data" in message and "WORKSHOP_DATA" in message
    with pytest.raises(DataFormatError):
        in_domain_validation_rows(settings)


def test_malformed_row_names_file_and_line(tmp_path):
    folder = write_cola_layout(tmp_path / "cola")
    train = folder / "raw" / "in_domain_train.tsv"
    lines = train.read_text().splitlines(keepends=True)
    lines[2] = "a1\t1\tThree columns only.\n"
    train.write_text("".join(lines))
    with pytest.raises(DataFormatError) as error:
        load_cola(settings_for(folder))
    message = str(error.value)
    assert "\n" not in message
    assert "in_domain_train.tsv, line 3" in message
    assert "expected 4 tab-separated columns" in message and "found 3" in message


def test_bad_label_names_file_and_line(tmp_path):
    folder = write_glue_layout(tmp_path / "glue")
    dev = folder / "dev.tsv"
    lines = dev.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("\t0\t", "\t2\t", 1)
    dev.write_text("".join(lines))
    with pytest.raises(DataFormatError, match=r"dev\.tsv, line 2: label must be 0 or 1, found '2'"):
        load_cola(settings_for(folder))


def test_empty_sentence_names_file_and_line(tmp_path):
    folder = write_cola_layout(tmp_path / "cola")
    (folder / "raw" / "out_of_domain_dev.tsv").write_text(labeled_lines(OUT_OF_DOMAIN_DEV) + "z9\t1\t\t   \n")
    with pytest.raises(DataFormatError, match=r"out_of_domain_dev\.tsv, line 3: the sentence is empty"):
        load_cola(settings_for(folder))


def test_a_file_that_is_not_utf8_names_the_file(tmp_path):
    folder = write_cola_layout(tmp_path / "cola")
    train = folder / "raw" / "in_domain_train.tsv"
    train.write_bytes(train.read_bytes() + "a1\t1\t\tThe caf\u00e9 opened.\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"in_domain_train\.tsv is not UTF-8 text: save it as UTF-8"):
        load_cola(settings_for(folder))


def test_bad_test_header_is_an_error(tmp_path):
    folder = write_cola_layout(tmp_path / "cola")
    (folder / "glue_test" / "test.tsv").write_text("id\ttext\n0\tThe baker sells warm bread.\n")
    with pytest.raises(DataFormatError) as error:
        load_cola(settings_for(folder))
    assert "test.tsv, line 1" in str(error.value) and "index<TAB>sentence" in str(error.value)


def test_bad_test_row_names_the_line(tmp_path):
    folder = write_glue_layout(tmp_path / "glue")
    (folder / "test.tsv").write_text(unlabeled_lines(TEST) + "2\n")
    with pytest.raises(DataFormatError, match=r"test\.tsv, line 4"):
        load_cola(settings_for(folder))


# --------------------------------------------------------------------------------------------------
# Training subsets
# --------------------------------------------------------------------------------------------------


def test_max_train_samples_takes_a_seeded_subset(tiny):
    settings = load_settings(environ={}, profile="tiny", max_train_samples=100)
    first, second = load_cola(settings), load_cola(settings)
    assert len(first["train"]) == 100
    assert first["train"].to_dict() == second["train"].to_dict()
    assert first["train"]["sentence"] != tiny["train"]["sentence"][:100], "a random subset, not the first rows"
    assert set(first["train"]["sentence"]) <= set(tiny["train"]["sentence"])
    assert len(set(first["train"]["idx"])) == 100
    # Only the training split is cut.
    assert first["validation"].to_dict() == tiny["validation"].to_dict()
    assert first["test"].to_dict() == tiny["test"].to_dict()


def test_max_train_samples_larger_than_train_keeps_everything(tiny):
    dataset = load_cola(load_settings(environ={}, profile="tiny", max_train_samples=5000))
    assert dataset["train"].to_dict() == tiny["train"].to_dict()


# --------------------------------------------------------------------------------------------------
# Prefetch copies (save_to_disk) and the hub
# --------------------------------------------------------------------------------------------------


def test_save_for_offline_round_trip(tmp_path, tiny, tiny_settings):
    folder = save_for_offline(tiny_settings, tmp_path / "prefetch")
    assert json.loads((folder / SAVED_INFO).read_text()) == {"source": "data/cola_tiny", "in_domain_validation_rows": 100}
    assert detect_layout(folder) == ("saved", folder)
    settings = settings_for(folder)
    loaded = load_cola(settings)
    check_structure(loaded)
    for split in ("train", "validation", "test"):
        assert loaded[split].features == tiny[split].features
        assert loaded[split].to_dict() == tiny[split].to_dict(), split
    assert in_domain_validation_rows(settings) == 100


def test_saved_folder_without_source_info_assumes_the_hubs_split(tmp_path, tiny_settings):
    folder = save_for_offline(tiny_settings, tmp_path / "prefetch")
    (folder / SAVED_INFO).unlink()
    assert in_domain_validation_rows(settings_for(folder)) == HUB_IN_DOMAIN_VALIDATION == 527


def test_hub_unreachable_without_cache_is_one_sentence(tmp_path, monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    # Both libraries read these folders once, at import: point the constants at the empty folder too.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    settings = load_settings(environ={}, data="hub")
    with pytest.raises(hub.HubUnreachableError) as error:
        load_cola(settings)
    message = str(error.value)
    assert "\n" not in message
    assert "nyu-mll/glue" in message and "--profile tiny" in message
    assert in_domain_validation_rows(settings) == 527


# --------------------------------------------------------------------------------------------------
# The real corpus
# --------------------------------------------------------------------------------------------------


def test_real_cola_corpus_through_the_data_flag():
    if not (REAL_COLA / "raw" / "in_domain_train.tsv").is_file():
        pytest.skip("../shared/data/cola_public is absent: only the workshop's CI and development machines have the real corpus")
    settings = load_settings(environ={}, data=str(REAL_COLA))
    dataset = load_cola(settings)
    check_structure(dataset)
    assert (len(dataset["train"]), len(dataset["validation"]), len(dataset["test"])) == (8551, 1043, 1063)
    assert in_domain_validation_rows(settings) == 527
    train_acceptable = sum(dataset["train"]["label"])
    assert train_acceptable == 6023
    assert round(100 * train_acceptable / len(dataset["train"]), 1) == 70.4
    validation = dataset["validation"]["label"]
    assert sum(validation) == 719
    assert (sum(validation[:527]), sum(validation[527:])) == (365, 354)
    assert dataset["train"][0]["sentence"] == "Our friends won't buy this analysis, let alone the next one we propose."


# --------------------------------------------------------------------------------------------------
# Notebook 02 writes the library calls itself: its cells give what load_cola gives
# --------------------------------------------------------------------------------------------------


def notebook_02_loading_cells() -> str:
    cells = json.loads((REPO_ROOT / "notebooks" / "02_exploration.ipynb").read_text())["cells"]
    phrases = ("files = cola_files(settings.data)", "hub_features = Features(", "n_train = settings.max_train_samples")
    code = []
    for phrase in phrases:
        found = ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and phrase in "".join(c["source"])]
        assert len(found) == 1, phrase
        code.append(found[0])
    return "\n".join(code)


@pytest.mark.parametrize("layout", ["tiny", "glue", "saved", "no test file", "max_train_samples"])
def test_notebook_02_loads_what_load_cola_loads(tmp_path, tiny_settings, layout):
    settings = {
        "tiny": lambda: tiny_settings,
        "glue": lambda: settings_for(write_glue_layout(tmp_path / "glue")),
        "saved": lambda: settings_for(save_for_offline(tiny_settings, tmp_path / "prefetch")),
        "no test file": lambda: settings_for(write_cola_layout(tmp_path / "cola", test=False)),
        "max_train_samples": lambda: settings_for(TINY, max_train_samples=50),
    }[layout]()
    namespace = {"settings": settings}
    exec(compile(notebook_02_loading_cells(), "notebook 02", "exec"), namespace)  # noqa: S102
    dataset, expected = namespace["dataset"], load_cola(settings)
    if layout != "max_train_samples":  # a subset keeps the original idx of its rows
        check_structure(dataset, test=layout != "no test file")
    assert set(dataset) == set(expected)
    for split in expected:
        assert dataset[split].features == expected[split].features, split
        assert dataset[split].to_dict() == expected[split].to_dict(), split

"""The tiny profile's assets in data/: real CoLA rows, GPT-2's real tokenizer, a loadable small model, and a recipe
(data/make_tiny_assets.py) that redraws the sample byte for byte and pretrains deterministically.

Tests that need the real corpus or tokenizer files in ../shared/data skip with a reason where they are absent.
Trained float weights are never compared with the committed ones: they differ between CPUs.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections import Counter

import pytest

from cola_workshop.settings import REPO_ROOT

RECIPE_DIR = REPO_ROOT / "data"
DATA = RECIPE_DIR / "cola_tiny"
MODEL = RECIPE_DIR / "tiny-gpt2"
SHARED = REPO_ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED / "cola_public").is_dir() or not (SHARED / "gpt2-tokenizer").is_dir(),
    reason="the real CoLA release and GPT-2 tokenizer are not in ../shared/data next to this checkout",
)
GPT2_IDS = {
    "Our friends won't buy this analysis, let alone the next one we propose.":
    [5122, 2460, 1839, 470, 2822, 428, 3781, 11, 1309, 3436, 262, 1306, 530, 356, 18077, 13],
}  # fmt: skip
SIZE_LIMIT = 10_000_000  # bytes, all of data/tiny-gpt2



def _from_file(name: str):
    """A module of the recipe, loaded from its file: the recipe lives beside the data, outside the package."""
    spec = importlib.util.spec_from_file_location(f"tiny_assets_{name}", RECIPE_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as importlib's own recipe does: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


recipe = _from_file("make_tiny_assets")
tiny_gpt2_recipe = _from_file("tiny_gpt2_recipe")
tiny_gpt2_readme = _from_file("tiny_gpt2_readme")


def _lines(name: str) -> list[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n"), f"{name}: one trailing newline"
    return text.splitlines()


def _labelled(name: str) -> list[list[str]]:
    return [line.split("\t") for line in _lines(name)]


def test_files_have_colas_and_glues_format():
    for name in (recipe.TRAIN, recipe.IN_DEV, recipe.OUT_DEV):
        rows = _labelled(name)
        assert len(rows) == recipe.SIZES[name]
        assert all(len(row) == 4 and row[1] in ("0", "1") and row[3].strip() for row in rows), name
        acceptable = sum(row[1] == "1" for row in rows) / len(rows)
        assert 0.65 <= acceptable <= 0.75, f"{name}: {acceptable:.0%} acceptable, CoLA has about 70%"
    lines = _lines(recipe.TEST)
    assert lines[0] == "index\tsentence" and len(lines) - 1 == recipe.SIZES[recipe.TEST]
    assert all(re.fullmatch(r"\d+\t\S.*", line) for line in lines[1:])


def test_validation_has_both_domains_as_the_workshop_loads_it():
    from cola_workshop.data import in_domain_validation_rows, load_cola
    from cola_workshop.settings import load_settings

    settings = load_settings(environ={}, profile="tiny")
    assert settings.data == "data/cola_tiny"
    dataset = load_cola(settings)
    assert (len(dataset["train"]), len(dataset["validation"]), len(dataset["test"])) == (1000, 200, 100)
    assert in_domain_validation_rows(settings) == 100
    train_journals = {row[0] for row in _labelled(recipe.TRAIN)}
    assert {row[0] for row in _labelled(recipe.IN_DEV)} <= train_journals
    assert not {row[0] for row in _labelled(recipe.OUT_DEV)} & train_journals, "out-of-domain journals are unseen"


def test_the_sample_keeps_colas_quirks_for_notebook_02_to_find():
    train = _labelled(recipe.TRAIN)
    counts = Counter(row[3] for row in train)
    duplicated = {sentence for sentence, n in counts.items() if n > 1}
    assert duplicated, "CoLA's train split has duplicated sentences; the sample should show some"
    assert any(len({row[1] for row in train if row[3] == sentence}) == 2 for sentence in duplicated)
    for name in (recipe.IN_DEV, recipe.OUT_DEV):
        assert any(row[3] in counts for row in _labelled(name)), f"{name} shares no sentence with train"
    assert any(line.split("\t")[1] in counts for line in _lines(recipe.TEST)[1:])


def test_readme_checksums_match_the_files():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    listed = _listed_checksums(DATA / "README.md")
    files = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file() and p.name != "README.md")
    assert sorted(listed) == files
    for name, digest in listed.items():
        assert recipe.sha256(DATA / name) == digest, f"{name} changed after the README was written"
    assert "Warstadt" in readme and "arXiv:1805.12471" in readme and "fair use" in readme


@needs_shared
def test_every_row_is_a_row_of_the_release_with_its_label():
    for name in recipe.SIZES:
        release = (SHARED / "cola_public" / name).read_text(encoding="utf-8").split("\n")
        ours = _lines(name)[1:] if name == recipe.TEST else _lines(name)
        assert set(ours) <= set(release), f"{name}: a row is not byte-identical to a row of the release"
        positions = [release.index(line) for line in ours]
        assert positions == sorted(positions), f"{name}: rows are not in the release's order"


def test_each_recipe_module_loads_alone_from_its_file():
    """No module of the recipe imports another at load time, so there is no circle and no module loads twice;
    only the script's main() imports the model's two modules, from beside it."""
    for name in ("make_tiny_assets", "tiny_gpt2_recipe", "tiny_gpt2_readme"):
        source = (RECIPE_DIR / f"{name}.py").read_text(encoding="utf-8")
        top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
        assert not [line for line in top_level if re.search(r"\b(make_tiny_assets|tiny_gpt2_\w+)\b", line)], name
        assert _from_file(name).__doc__


@needs_shared
def test_the_script_redraws_the_sample_byte_for_byte_from_any_folder(tmp_path):
    """``python data/make_tiny_assets.py --sample-only`` run from another folder gives the committed sample."""
    command = [sys.executable, str(RECIPE_DIR / "make_tiny_assets.py"), "--shared", str(SHARED), "--sample-only",
               "--data-dir", "cola_tiny"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    files = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file())
    drawn = tmp_path / "cola_tiny"
    assert sorted(p.relative_to(drawn).as_posix() for p in drawn.rglob("*") if p.is_file()) == files
    for name in files:
        assert (drawn / name).read_bytes() == (DATA / name).read_bytes(), name


@needs_shared
def test_build_writes_a_complete_model_folder(tmp_path):
    """The model half of the script, as its main() calls it, with two pretraining steps (the recipe, not the
    committed weights, which differ between CPUs)."""
    from transformers import AutoModelForCausalLM

    corpus = recipe.read_corpus(SHARED)
    exclude = recipe.sample_sentences(recipe.draw_sample(corpus))
    built = tmp_path / "tiny-gpt2"
    built.mkdir()
    (built / "tokenizer.json").write_text("{}")  # a stale file must not survive a rebuild

    def readme(*facts) -> str:
        return tiny_gpt2_readme.model_readme(*facts, rebuild=recipe.REBUILD)

    train = [row.sentence for row in corpus[recipe.TRAIN]]
    tiny_gpt2_recipe.build(SHARED, built, train, exclude, 3, readme=readme, license_text=tiny_gpt2_readme.GPT2_LICENSE,
                           steps=2, log=None)
    assert sorted(p.name for p in built.iterdir()) == sorted(p.name for p in MODEL.iterdir())
    for name in (*tiny_gpt2_recipe.TOKENIZER_FILES, "tokenizer_config.json", "LICENSE"):
        assert (built / name).read_bytes() == (MODEL / name).read_bytes(), name
    assert all(recipe.sha256(built / name) == digest for name, digest in _listed_checksums(built / "README.md").items())
    assert "--sample-only" in (built / "README.md").read_text(encoding="utf-8"), "the README tells how to rebuild"
    assert AutoModelForCausalLM.from_pretrained(built, use_safetensors=True).config.vocab_size == 50257


@needs_shared
def test_pretraining_text_excludes_every_sentence_of_the_sample():
    corpus = recipe.read_corpus(SHARED)
    sample = recipe.draw_sample(corpus)
    tiny = recipe.sample_sentences(sample)
    text = tiny_gpt2_recipe.pretraining_sentences([row.sentence for row in corpus[recipe.TRAIN]], tiny)
    assert text and not set(text) & tiny and len(text) == len(set(text))
    assert len(text) == len({row.sentence for row in corpus[recipe.TRAIN]} - tiny)


@needs_shared
def test_tokenizer_files_are_openais_unchanged():
    for name in tiny_gpt2_recipe.TOKENIZER_FILES:
        assert (MODEL / name).read_bytes() == (SHARED / "gpt2-tokenizer" / name).read_bytes(), name


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL)  # as the notebooks load it: the folder alone says which tokenizer


def test_tokenizer_is_gpt2s_byte_level_bpe_without_a_pad_token(tokenizer):
    assert tokenizer.is_fast
    assert len(tokenizer) == 50257 and tokenizer.pad_token is None
    assert tokenizer.bos_token == tokenizer.eos_token == tokenizer.unk_token == "<|endoftext|>"
    assert tokenizer.eos_token_id == 50256
    for sentence, ids in GPT2_IDS.items():
        assert tokenizer(sentence)["input_ids"] == ids
        assert tokenizer.decode(ids) == sentence
    assert not (MODEL / "tokenizer.json").exists(), "tokenizer.json would add 2 MB; vocab.json + merges.txt suffice"


def test_model_folder_is_small_licensed_and_has_no_pickles():
    names = {path.name for path in MODEL.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt", "LICENSE", "README.md"} <= names
    assert not [name for name in names if name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    assert sum(path.stat().st_size for path in MODEL.iterdir()) < SIZE_LIMIT
    assert "Modified MIT License" in (MODEL / "LICENSE").read_text(encoding="utf-8")


def test_model_loads_with_the_notebooks_library_calls_in_float32(tokenizer):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    classifier = AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=2)  # notebooks 05 and 06
    assert classifier.config.num_labels == 2 and classifier.score.out_features == 2
    assert {p.dtype for p in classifier.parameters()} == {torch.float32}
    lm = AutoModelForCausalLM.from_pretrained(MODEL)  # notebook 01 and the zero-shot baseline
    assert type(lm).__name__ == "GPT2LMHeadModel" and lm.config.vocab_size == len(tokenizer)
    assert {p.dtype for p in lm.parameters()} == {torch.float32}
    assert type(AutoModelForQuestionAnswering.from_pretrained(MODEL)).__name__ == "GPT2ForQuestionAnswering"
    with torch.no_grad():
        logits = classifier(**tokenizer("The book was written by John.", return_tensors="pt")).logits
    assert logits.shape == (1, 2)


def test_committed_model_has_learned_english(tokenizer):
    """An untrained model scores about ln(50257) = 10.8 nats per token; the pretrained one far less."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(MODEL).eval()
    sentences = [row[3] for row in _labelled(recipe.IN_DEV)]
    loss = tiny_gpt2_recipe.mean_loss(model, tiny_gpt2_recipe.encode(tokenizer, sentences), tokenizer.eos_token_id)
    assert loss < 8.0, f"{loss:.2f} nats per token on the tiny in-domain validation sentences"


def test_compact_vocabulary_gives_the_full_softmax(tokenizer):
    import torch

    sentences = [row[3] for row in _labelled(recipe.TRAIN)[:40]]
    encoded = tiny_gpt2_recipe.encode(tokenizer, sentences)
    vocabulary = tiny_gpt2_recipe.CompactVocabulary(encoded[:30])  # the last 10 bring tokens it has not seen
    eos = tokenizer.eos_token_id
    compact = tiny_gpt2_recipe.new_model(vocabulary.compact_id[eos], seed=0, vocab_size=len(vocabulary.active) + 1)
    with torch.no_grad():
        compact.transformer.wte.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    full = vocabulary.expand(compact.eval(), eos, seed=0)
    with torch.no_grad():
        batch = tiny_gpt2_recipe.lm_batch(vocabulary.map(encoded[:30]), vocabulary.shared)
        small = tiny_gpt2_recipe.lm_loss(compact, *batch, vocabulary.shared, vocabulary.n_unseen)
        input_ids, attention_mask, labels = tiny_gpt2_recipe.lm_batch(encoded[:30], eos)
        large = full(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss  # transformers' own loss
    assert small.item() == pytest.approx(large.item(), rel=1e-4)
    unseen = sorted({t for row in encoded[30:] for t in row} - set(vocabulary.active))
    assert unseen and torch.equal(full.transformer.wte.weight[unseen[0]], compact.transformer.wte.weight[-1])


def test_pretraining_is_deterministic_and_writes_a_loadable_model(tokenizer, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    sentences = [row[3] for row in _labelled(recipe.TRAIN)[:200]]
    runs = []
    for run in range(2):
        model, facts = tiny_gpt2_recipe.train_model(tokenizer, sentences, seed=7, steps=3, log=None)
        tiny_gpt2_recipe.save_model(model, tmp_path / str(run))
        runs.append((model, facts))
    (first, facts), (second, _) = runs
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    fresh = tiny_gpt2_recipe.new_model(tokenizer.eos_token_id, seed=7)
    assert not torch.equal(fresh.transformer.h[0].attn.c_attn.weight, first.transformer.h[0].attn.c_attn.weight)
    assert facts["steps"] == 3 and facts["sentences"] + facts["held_out"] == len(sentences)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "0", use_safetensors=True)
    assert loaded.dtype == torch.float32 and loaded.config.vocab_size == 50257
    ids = torch.tensor([tokenizer("The dog barked.")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, first(ids).logits)


def _listed_checksums(readme_path) -> dict[str, str]:
    section = readme_path.read_text(encoding="utf-8").split("## sha256")[-1]
    return {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", section, re.M)}


def test_model_readme_checksums_match_the_committed_files():
    listed = _listed_checksums(MODEL / "README.md")
    assert sorted(listed) == sorted(p.name for p in MODEL.iterdir() if p.name != "README.md")
    for name, digest in listed.items():
        assert recipe.sha256(MODEL / name) == digest, f"{name} changed after the README was written"

"""The tiny GPT-2 of the ``tiny`` profile: GPT-2's real tokenizer and a small model pretrained on CoLA's text.

Called by ``make_tiny_assets.py`` (run that, not this); it imports nothing from beside it, and from the workshop's
package only how a folder is written whole (``cola_workshop.files``) and how token ids are right-padded
(``cola_workshop.lm_scores``). The model is a ``GPT2LMHeadModel`` with GPT-2's full 50,257-token vocabulary, so that
the notebooks meet exactly GPT-2's tokenizer (no pad token, ``<|endoftext|>`` as bos/eos/unk); the vocabulary alone
makes the embedding 50,257 x width floats, which is why the width is small.

It is pretrained as a causal language model on the *text* of the CoLA v1.1 in-domain training sentences that
are not in the tiny sample and are not equal to any sentence of the sample (so no tiny validation or test
sentence is seen before evaluation, and the labels are never read). That gives it a little of what GPT-2 has:
log-probabilities that prefer the kind of English it has read, and features a classifier head can use.

Deterministic on one machine: seeded, one thread, deterministic algorithms. The float weights differ between
CPUs, so tests never compare trained weights with the committed ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
from pathlib import Path

from cola_workshop.files import atomic_folder

ENDOFTEXT = "<|endoftext|>"
VOCAB_SIZE = 50257
TOKENIZER_FILES = ("vocab.json", "merges.txt")
ARCHITECTURE = dict(n_embd=32, n_layer=4, n_head=4, n_positions=1024)
STEPS = 1500
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
WARMUP_STEPS = 60
HELD_OUT = 250  # pretraining sentences kept aside to report a held-out loss (never trained on)
THREADS = 1
# The special tokens and length limit of openai-community/gpt2, spelled out; the class tells AutoTokenizer to
# build the fast byte-level BPE tokenizer from vocab.json and merges.txt.
TOKENIZER_CONFIG = {
    "add_prefix_space": False,
    "bos_token": ENDOFTEXT,
    "eos_token": ENDOFTEXT,
    "model_max_length": ARCHITECTURE["n_positions"],
    "tokenizer_class": "GPT2Tokenizer",
    "unk_token": ENDOFTEXT,
}


def pretraining_sentences(train_sentences: list[str], exclude: set[str]) -> list[str]:
    """Distinct training sentences (first occurrence order) that are not ``exclude``d; labels are not read."""
    seen = set(exclude)
    sentences = []
    for sentence in train_sentences:
        if sentence not in seen:
            seen.add(sentence)
            sentences.append(sentence)
    return sentences


def write_tokenizer(shared: Path, folder: Path):
    """Copy OpenAI's vocab.json and merges.txt unchanged, add tokenizer_config.json, and load it back."""
    from transformers import AutoTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(Path(shared) / "gpt2-tokenizer" / name, folder / name)
    (folder / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2, sort_keys=True) + "\n")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # transformers 5 can silently build an empty tokenizer from files: check what a notebook would get.
    if len(tokenizer) != VOCAB_SIZE or not tokenizer.is_fast or tokenizer.pad_token is not None:
        raise RuntimeError(f"{folder}: the tokenizer did not load back as GPT-2's ({len(tokenizer)} tokens)")
    return tokenizer


@contextlib.contextmanager
def deterministic_torch(seed: int, threads: int = THREADS):
    """Seeded, fixed-thread, deterministic torch; the caller's RNG state and settings are restored afterwards."""
    import torch

    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.set_num_threads(before[0])
            torch.use_deterministic_algorithms(before[1])


def new_model(eos_id: int, seed: int, vocab_size: int = VOCAB_SIZE):
    """A freshly initialised float32 GPT2LMHeadModel of ``ARCHITECTURE``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab_size, bos_token_id=eos_id, eos_token_id=eos_id, **ARCHITECTURE)
    with deterministic_torch(seed):
        return GPT2LMHeadModel(config)


def encode(tokenizer, sentences: list[str]) -> list[list[int]]:
    """Each sentence as ``<|endoftext|> sentence <|endoftext|>``: how GPT-2 saw document boundaries."""
    eos = tokenizer.eos_token_id
    return [[eos, *ids, eos] for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]


class CompactVocabulary:
    """The tokens that occur in the pretraining text, plus one shared row for all the others.

    Tokens that never occur in the text are never an input and never a target, so with full-softmax training
    they only ever receive the gradient that pushes their logits down. If they all start from the same
    embedding, they get identical updates and stay equal: one shared row ``u`` whose logit counts
    ``n_unseen`` times (``h.u + log n_unseen``) gives the same softmax over all 50,257 tokens, at about an
    eighth of the cost (about 6,000 rows instead of 50,257). ``expand`` writes the full-size model.
    """

    def __init__(self, encoded: list[list[int]], vocab_size: int = VOCAB_SIZE):
        self.active = sorted({token for row in encoded for token in row})
        self.compact_id = {token: i for i, token in enumerate(self.active)}
        self.shared = len(self.active)  # the compact id of the shared row
        self.n_unseen = vocab_size - len(self.active)
        self.vocab_size = vocab_size

    def map(self, encoded: list[list[int]]) -> list[list[int]]:
        return [[self.compact_id[token] for token in row] for row in encoded]

    def expand(self, compact, eos_id: int, seed: int):
        """The full GPT2LMHeadModel: the compact model's body, its rows for active tokens, ``u`` elsewhere."""
        import torch

        full = new_model(eos_id, seed)
        state = {k: v for k, v in compact.state_dict().items() if k not in ("transformer.wte.weight", "lm_head.weight")}
        full.load_state_dict(state, strict=False)
        small = compact.transformer.wte.weight.detach()
        weight = small[self.shared].repeat(self.vocab_size, 1)
        weight[torch.tensor(self.active)] = small[: self.shared]
        with torch.no_grad():
            full.transformer.wte.weight.copy_(weight)
        return full.eval()


def lm_batch(rows: list[list[int]], pad_id: int):
    """Right-padded ids, attention mask and labels (-100 on padding, which the loss ignores)."""
    from cola_workshop.lm_scores import right_padded  # loads torch: imported when a batch is made

    input_ids, attention_mask = right_padded(rows, pad_id)
    return input_ids, attention_mask, input_ids.masked_fill(attention_mask == 0, -100)


def lm_loss(model, input_ids, attention_mask, labels, shared_row: int | None = None, n_unseen: int = 0):
    """Mean next-token cross-entropy, with logits computed only where a real token is predicted.

    With ``shared_row`` (compact model), that row's logit stands for ``n_unseen`` tokens (see CompactVocabulary).
    """
    import math

    import torch

    hidden = model.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    keep = targets != -100
    logits = model.lm_head(hidden[keep])
    if shared_row is not None:
        correction = torch.zeros(logits.shape[-1])
        correction[shared_row] = math.log(n_unseen)
        logits = logits + correction
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def mean_loss(model, encoded: list[list[int]], pad_id: int, batch_size: int = 64) -> float:
    """Average next-token cross-entropy (nats) per predicted token over ``encoded``, by the full model."""
    import torch

    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            input_ids, attention_mask, labels = lm_batch(encoded[start : start + batch_size], pad_id)
            n = int((labels[:, 1:] != -100).sum())
            total += lm_loss(model, input_ids, attention_mask, labels).item() * n
            tokens += n
    return total / tokens


def _schedule(step: int, steps: int) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak learning rate."""
    import math

    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def pretrain(model, encoded, vocabulary: CompactVocabulary, steps: int, seed: int, log=print) -> float:
    """``steps`` AdamW steps of causal LM training of the compact ``model`` on shuffled batches of ``encoded``
    (compact ids); returns the last batch's loss."""
    import torch

    order = random.Random(seed)
    pool: list[list[int]] = []
    loss = torch.tensor(float("nan"))
    with deterministic_torch(seed):
        optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _schedule(step, steps))
        model.train()
        for step in range(steps):
            if len(pool) < BATCH_SIZE:
                pool += order.sample(encoded, len(encoded))
            batch, pool = pool[:BATCH_SIZE], pool[BATCH_SIZE:]
            loss = lm_loss(model, *lm_batch(batch, vocabulary.shared), vocabulary.shared, vocabulary.n_unseen)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if log and (step + 1) % 200 == 0:
                log(f"step {step + 1}/{steps}: loss {loss.item():.3f}")
    model.eval()
    return float(loss.item())


def split_held_out(sentences: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(training sentences, HELD_OUT sentences kept aside), a seeded split of the pretraining sentences."""
    held = set(random.Random(f"{seed}/held-out").sample(range(len(sentences)), min(HELD_OUT, len(sentences) // 10)))
    return [s for i, s in enumerate(sentences) if i not in held], [s for i, s in enumerate(sentences) if i in held]


def train_model(tokenizer, sentences: list[str], seed: int, steps: int = STEPS, log=print):
    """Create and pretrain the tiny model on ``sentences``; returns (full-size model, facts for the README)."""
    import time

    train, held_out = split_held_out(sentences, seed)
    eos = tokenizer.eos_token_id
    encoded, encoded_held = encode(tokenizer, train), encode(tokenizer, held_out)
    vocabulary = CompactVocabulary(encoded)
    compact = new_model(vocabulary.compact_id[eos], seed, vocab_size=len(vocabulary.active) + 1)
    with deterministic_torch(seed):
        before = mean_loss(vocabulary.expand(compact, eos, seed), encoded_held, eos)
    started = time.perf_counter()
    last = pretrain(compact, vocabulary.map(encoded), vocabulary, steps, seed, log)
    seconds = time.perf_counter() - started
    model = vocabulary.expand(compact, eos, seed)
    with deterministic_torch(seed):
        after = mean_loss(model, encoded_held, eos)
    facts = dict(
        sentences=len(train), held_out=len(held_out), tokens=sum(len(row) - 1 for row in encoded), steps=steps,
        active_tokens=len(vocabulary.active), last_loss=last, held_out_loss_before=before,
        held_out_loss_after=after, seconds=seconds, parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=VOCAB_SIZE,
    )  # fmt: skip
    return model, facts


def save_model(model, folder: Path) -> None:
    """float32 safetensors (no pickles), config and generation config."""
    import torch

    model.to(torch.float32).save_pretrained(folder, safe_serialization=True)
    (Path(folder) / "model.safetensors").chmod(0o644)  # written through a private temporary file (mode 600)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(shared: Path, folder: Path, train_sentences: list[str], exclude: set[str], seed: int, *, readme,
          license_text: str, steps: int = STEPS, log=print):
    """Tokenizer files, licence, pretrained model and README into ``folder``; returns the README's facts.

    ``train_sentences``: CoLA's in-domain training sentences in file order; ``readme(facts, architecture, recipe,
    checksums, seed)`` writes the README's text (``tiny_gpt2_readme.py``, which the calling script passes)."""
    with atomic_folder(folder) as partial:  # built aside, so no stale file (an old tokenizer.json) survives
        tokenizer = write_tokenizer(shared, partial)
        _write_text(partial / "LICENSE", license_text)
        sentences = pretraining_sentences(train_sentences, exclude)
        model, facts = train_model(tokenizer, sentences, seed, steps, log)
        save_model(model, partial)
        if log:
            log(json.dumps(facts, indent=1))
        recipe = dict(steps=steps, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE, warmup_steps=WARMUP_STEPS,
                      threads=THREADS)  # fmt: skip
        names = sorted(p.name for p in partial.iterdir() if p.is_file() and p.name != "README.md")
        checksums = {name: _sha256(partial / name) for name in names}
        _write_text(partial / "README.md", readme(facts, ARCHITECTURE, recipe, checksums, seed))
    return facts

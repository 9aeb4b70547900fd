"""The demo page: ``cola-workshop demo`` serves a fine-tuned classifier on the loopback address; a headless Chromium
types a sentence, presses the button and reads back the model's probability.

The model is built here from data/tiny-gpt2 (a new, untrained two-label head, saved to a temporary folder), so the
test needs no earlier notebook run. Skips with the reason where gradio, selenium or Chromium is missing; the error
messages and the imports without the optional extras are checked everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cola_workshop.tools import cli
from cola_workshop.tools.demo import OFFLINE_ENV, Scorer
from headless_browser import chromium, external, requested_urls, wait_for

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "The children were singing in the garden."


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A sequence classifier from the tiny GPT-2 (pad token set, as notebook 03 does), saved like notebook 05."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("classifier")
    tokenizer = AutoTokenizer.from_pretrained(ROOT / "data" / "tiny-gpt2")
    tokenizer.pad_token = tokenizer.eos_token
    id2label = {0: "unacceptable", 1: "acceptable"}
    model = AutoModelForSequenceClassification.from_pretrained(
        ROOT / "data" / "tiny-gpt2", num_labels=2, id2label=id2label, label2id={v: k for k, v in id2label.items()}
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited with {process.returncode}: {process.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the demo did not answer at {url} within {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C, as a learner stops it; killed if it does not stop within 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.slow  # a demo server and a headless Chromium
@pytest.mark.skipif(importlib.util.find_spec("gradio") is None, reason='gradio is not installed (the "demo" extra)')
def test_demo_page_shows_the_models_probability_for_a_typed_sentence(classifier_dir):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with chromium() as driver:  # skips before the server starts where there is no browser
        process = subprocess.Popen(
            [sys.executable, "-m", "cola_workshop.tools.cli", "demo", "--port", str(port), "--model", str(classifier_dir)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **OFFLINE_ENV},
            # Ctrl-C must reach it even where this test runs with SIGINT ignored (a background job, some CI runners).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            _wait_until_serving(url, process)
            requested_urls(driver)
            driver.get(url)
            box = wait_for(driver, lambda d: d.find_element("css selector", "#sentence textarea"), timeout=60,
                           message="no sentence box on the page")
            box.send_keys(SENTENCE)
            driver.find_element("css selector", "#judge").click()
            shown = wait_for(driver, lambda d: d.find_element("css selector", "#probability textarea").get_attribute("value"),
                             timeout=60, message="no probability appeared")
            requests = requested_urls(driver)
        finally:
            _stop(process)
    assert process.returncode in (0, cli.EXIT_INTERRUPTED), f"Ctrl-C did not stop the demo cleanly ({process.returncode})"
    probability = float(shown)
    assert 0 <= probability <= 1
    assert probability == pytest.approx(Scorer(classifier_dir)(SENTENCE), abs=1.5e-3), "not the model's probability"
    local = (f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    assert external(requests, local) == [], "the page fetched something from outside this machine"


def test_demo_without_a_trained_model_names_notebook_05(tmp_path, capsys):
    assert cli.main(["demo", "--outputs", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "no trained model" in error and "notebooks/05_training.ipynb" in error


def test_demo_with_a_folder_that_is_no_model_says_so(tmp_path, capsys):
    assert cli.main(["demo", "--model", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "is not a model checkpoint (no config.json)" in error and "fine-tuned model folder" in error
    assert "WORKSHOP_MODEL" not in error and "hub id" not in error  # the demo reads no variable and no hub id
    (tmp_path / "config.json").write_text("{}")  # a checkpoint without safetensors weights: re-saving is the fix
    assert cli.main(["demo", "--model", str(tmp_path)]) == 2
    assert "safe_serialization=True" in capsys.readouterr().err


def test_demo_without_gradio_names_the_extra(classifier_dir, monkeypatch, capsys):
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)  # restored afterwards: require_gradio sets them for the demo's process
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio now raises ImportError
    assert cli.main(["demo", "--model", str(classifier_dir)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and 'pip install -e ".[demo]" -c .ci/constraints.txt' in error


def test_package_and_command_work_without_the_optional_extras():
    blocked = "gradio sphinx myst_nb sphinx_book_theme selenium".split()
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r}))\n"
        "import cola_workshop.tools.cli, cola_workshop.tools.demo, cola_workshop.tools.site, cola_workshop.model_card\n"
        "sys.exit(cola_workshop.tools.cli.main(['site', '--help']))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "static HTML site" in result.stdout

"""``cola-workshop demo``: a local web page where a learner types a sentence and sees the probability that their
fine-tuned model calls it acceptable.

Gradio is an optional extra (``demo``): nothing here imports it until the demo starts, so the package and its
tests work without it. The page is served on the loopback address by default and reaches nothing on the internet:
Gradio's analytics and version check are off, its theme's fonts are served locally, no share link is made, and
the model is read from a local folder only.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WorkshopError
from ..settings import Settings, display_path
from ..sources import local_checkpoint

INSTALL_HINT = 'pip install -e ".[demo]" -c .ci/constraints.txt'
DEFAULT_HOST = "127.0.0.1"
EXAMPLES = ["The children were singing in the garden.", "The children was singing the garden in."]
# Set before gradio is imported: no usage analytics, no version check, no hub calls, no server-side rendering
# (which would need Node), no MCP server.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_SSR_MODE": "False",
    "GRADIO_MCP_SERVER": "False",
}


class DemoError(WorkshopError, RuntimeError):
    """The demo cannot start (gradio missing, no trained model); the message names the fix."""


def require_gradio():
    """Import gradio with everything that could reach the internet switched off, or DemoError naming the extra."""
    os.environ.update(OFFLINE_ENV)
    try:
        import gradio
    except ImportError:
        raise DemoError(f"the demo needs gradio (the 'demo' extra), which is not installed: {INSTALL_HINT}") from None
    return gradio


def model_folder(settings: Settings, model: str | Path | None = None) -> Path:
    """The fine-tuned model to serve: ``model`` when given, else notebook 05's ``model/`` in the outputs folder."""
    if model is not None:  # ModelSourceError names the problem and a fix for a folder
        return local_checkpoint(str(Path(model).expanduser().absolute()), hub_ids=False)
    folder = settings.stage_dir("05_training") / "model"
    if not (folder / "config.json").is_file():
        raise DemoError(
            f"no trained model in {display_path(folder)}: run notebooks/05_training.ipynb first (or `cola-workshop "
            "run --to 05`), or point --model at a fine-tuned model folder"
        )
    return folder


class Scorer:
    """P(acceptable) for one sentence, from a sequence-classification model folder (safetensors only)."""

    def __init__(self, folder: Path):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, trust_remote_code=False
        ).eval()
        self.acceptable = self.model.config.label2id.get("acceptable", 1)

    def __call__(self, sentence: str) -> float:
        encoded = self.tokenizer(sentence, return_tensors="pt", truncation=True, max_length=128)
        with self.torch.no_grad():
            logits = self.model(**encoded).logits
        return float(logits.softmax(-1)[0, self.acceptable])


def build_app(scorer: Scorer, model_name: str):
    """The page: a sentence box, a button, the probability (3 decimals) and a two-label verdict."""
    gr = require_gradio()

    def judge(sentence: str):
        if not sentence or not sentence.strip():
            raise gr.Error("Type a sentence first.")
        probability = scorer(sentence.strip())
        return f"{probability:.3f}", {"acceptable": probability, "unacceptable": 1 - probability}

    with gr.Blocks(title="Is this sentence acceptable?", analytics_enabled=False) as app:
        gr.Markdown(
            "# Is this sentence acceptable?\n"
            f"Your fine-tuned classifier (`{model_name}`) gives the probability that an English sentence is "
            "grammatically acceptable, as CoLA's linguists would judge it. A model from the `tiny` profile is a "
            "rehearsal: its answers mean nothing."
        )
        sentence = gr.Textbox(label="Sentence", placeholder=EXAMPLES[0], elem_id="sentence", lines=1, max_lines=3)
        button = gr.Button("Judge", variant="primary", elem_id="judge")
        # A text box, not gr.Number: a number field shows 0 before the first answer, which reads like a result.
        probability = gr.Textbox(label="Probability that it is acceptable", interactive=False, elem_id="probability")
        verdict = gr.Label(label="Verdict", num_top_classes=2, elem_id="verdict")
        gr.Examples(examples=[[text] for text in EXAMPLES], inputs=[sentence])
        button.click(judge, inputs=sentence, outputs=[probability, verdict])
        sentence.submit(judge, inputs=sentence, outputs=[probability, verdict])
    return app


def run_demo(settings: Settings, model: str | Path | None = None, port: int | None = None, host: str = DEFAULT_HOST):
    """Load the model, build the page and serve it until Ctrl-C (``port`` None: Gradio's first free from 7860)."""
    folder = model_folder(settings, model)  # first: no trained model is the likelier problem, and quick to find
    require_gradio()  # before loading the model: a missing extra is reported at once
    from ..notebook import quiet_libraries

    quiet_libraries()  # no download/progress chatter from transformers
    print(f"loading {display_path(folder)} ...", flush=True)
    app = build_app(Scorer(folder), display_path(folder))
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False, show_error=True, ssr_mode=False,
               mcp_server=False, footer_links=[])

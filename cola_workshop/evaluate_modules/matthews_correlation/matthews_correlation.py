"""Matthews correlation coefficient as an `evaluate` module that loads without the hub.

The hub-hosted module (``evaluate.load("matthews_correlation")`` or ``("glue", "cola")``) is a script
downloaded at run time; this local copy does the same thing (it calls scikit-learn) and loads offline:
``evaluate.load(path_to_this_folder)``.
"""

import datasets
import evaluate
from sklearn.metrics import matthews_corrcoef

_DESCRIPTION = """Matthews correlation coefficient (MCC): the correlation between predicted and true binary
labels, from -1 (always wrong) through 0 (no better than chance, e.g. always predicting the majority class)
to +1 (always right). GLUE's metric for CoLA, because CoLA is unbalanced (about 70% acceptable)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): true labels.
Returns:
    matthews_correlation (float): the MCC, in [-1, 1].
Example:
    >>> metric = evaluate.load(str(LOCAL_MCC))  # from cola_workshop.metrics import LOCAL_MCC
    >>> metric.compute(references=[1, 0, 1, 1], predictions=[1, 0, 0, 1])
    {'matthews_correlation': 0.5773502691896258}
"""

_CITATION = """Matthews, B. W. (1975). Comparison of the predicted and observed secondary structure of T4 phage
lysozyme. Biochimica et Biophysica Acta (BBA) - Protein Structure, 405(2), 442-451."""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MatthewsCorrelation(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.matthews_corrcoef.html"],
        )

    def _compute(self, predictions, references, sample_weight=None):
        return {"matthews_correlation": float(matthews_corrcoef(references, predictions, sample_weight=sample_weight))}

"""examples/fit_in_a_notebook.ipynb, executed as a reader would run it (nbclient, a real kernel), so it
cannot rot: it fits the committed paper-cpu runs, prints Table 1 and draws the law."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "fit_in_a_notebook.ipynb"


def test_the_example_notebook_runs_and_shows_table1_and_the_law():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["TL_NOTEBOOK_BOOTSTRAP"] = "20"  # the kernel inherits it; readers get 300
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        del os.environ["TL_NOTEBOOK_BOOTSTRAP"]
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs)
    assert "text+code" in text and "alpha_resolved" in text and "behaves as if trained on" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # the law, and the report's figure

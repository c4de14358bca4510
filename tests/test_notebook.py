"""The quickstart notebook runs from top to bottom (so it can never rot)."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from conftest import REPO


def test_quickstart_notebook_executes() -> None:
    path = REPO / "notebooks" / "quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "static@mlu370-x4" in text and "p_eff 1 -> 8" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2

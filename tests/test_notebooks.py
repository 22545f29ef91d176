"""Every notebook in ``notebooks/`` runs top to bottom without an error, in a fresh kernel.

The kernel is ``python3`` as the venv resolves it: the venv's own kernelspec (jupyter_core prefers it
to a user-wide one inside a virtual environment) whose ``python`` jupyter_client replaces with this
interpreter, so the notebooks import the dltoolkit under test. Each runs in a temporary folder, so no
``lightning_logs`` or run folders land in the repository.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 120


def stream_text(nb: Any) -> str:
    """Everything the notebook's code cells printed (stdout/stderr streams and text results)."""
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def test_there_is_a_welcome_notebook() -> None:
    assert NOTEBOOKS / "welcome.ipynb" in PATHS


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_is_saved_without_outputs(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


def test_kernel_runs_this_interpreter() -> None:
    from jupyter_client.manager import KernelManager

    cmd = KernelManager(kernel_name=KERNEL).format_kernel_cmd()
    assert Path(cmd[0]).resolve() == Path(sys.executable).resolve(), (
        f"kernel {KERNEL!r} starts {cmd[0]}, not {sys.executable}; "
        f"run `{sys.executable} -m ipykernel install --sys-prefix`"
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    try:
        client.execute()  # raises CellExecutionError, with the cell's traceback, on any error
    finally:
        nbformat.write(nb, tmp_path / path.name)  # the executed copy, to read when this fails

    if path.name == "welcome.ipynb":
        text = stream_text(nb)
        found = re.findall(r"test accuracy:\s*([0-9]*\.?[0-9]+)", text)
        assert found, f"no 'test accuracy: X' line in the output:\n{text[-2000:]}"
        assert float(found[-1]) >= 0.9, f"test accuracy {found[-1]} < 0.9"

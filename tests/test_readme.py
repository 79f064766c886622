"""Every Python block of README.md runs as written (against the bundled sample night and the embedded model), in
a temporary working directory. A block whose first line says it needs the Hugging Face Hub is skipped offline."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)
NEEDS_HUB = "# needs the Hugging Face Hub"


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs_as_written(index, tmp_path, monkeypatch):
    code = BLOCKS[index]
    if code.startswith(NEEDS_HUB) and os.environ.get("HF_HUB_OFFLINE") == "1":
        pytest.skip("README block loads Hub models (openai/clip-vit-large-patch14-336, Qwen2.5-0.5B): offline here; "
                    "tests/test_from_components.py runs the same call on local directories")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"readme_block_{index}"}
    exec(compile(code, f"README.md python block {index}", "exec"), namespace)  # noqa: S102 - our own README
    if "result" in namespace and "explained" in namespace:  # the staging block: what its comments promise
        result, explained = namespace["result"], namespace["explained"]
        assert result.probabilities.shape == (480, 5)
        assert explained.reasoning[120].splitlines()[-1] == f"Stage: {explained.stages[120]}"
        assert explained.reasoning[119] is None
        fig = namespace["fig"]
        assert type(fig).__name__ == "Figure"
        assert {p.name for p in tmp_path.iterdir()} == {"night.hypnogram.csv", "night.hypnogram.edf",
                                                       "night.hypnogram.png"}
    if "probs" in namespace:
        assert tuple(namespace["probs"].shape) == (1, 5)

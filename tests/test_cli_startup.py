"""Start-up: `eeg-vlm --help` and every input/output check answer before torch is imported, and nothing is created
when nothing is written; `import eeg_vlm` stays light yet registers the Auto classes once transformers loads.
(Speed itself is measured by benchmarks/cli_startup.py, not asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = next((ROOT / "eeg_vlm" / "sample").glob("*-PSG.edf"))
HYPNOGRAM = next((ROOT / "eeg_vlm" / "sample").glob("*-Hypnogram.edf"))


def run_python(code: str, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CLI = """
import contextlib, io, json, sys
sys.path.insert(0, {root!r})
from eeg_vlm.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    try:
        code = main({argv!r})
    except SystemExit as stop:
        code = stop.code
print(json.dumps({{"code": code, "torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                  "err": err.getvalue()}}))
"""


def cli(argv: list[str], cwd: Path) -> dict:
    return run_python(CLI.format(root=str(ROOT), argv=[str(a) for a in argv]), cwd)


def test_help_needs_no_torch(tmp_path):
    out = cli(["--help"], tmp_path)
    assert out["code"] == 0 and not out["torch"] and not out["transformers"]


@pytest.mark.parametrize("case", ["missing", "not_edf", "hypnogram_only", "existing_output", "bad_epoch",
                                  "bad_threads"])
def test_bad_inputs_are_reported_before_torch_is_imported_and_nothing_is_created(tmp_path, case):
    out_dir = tmp_path / "results" / "night1"
    night = {"missing": tmp_path / "nowhere.edf", "not_edf": tmp_path / "export.edf",
             "hypnogram_only": HYPNOGRAM, "existing_output": SAMPLE, "bad_epoch": SAMPLE, "bad_threads": SAMPLE}[case]
    (tmp_path / "export.edf").write_text("time,Fpz-Cz\n0.00,12.5\n")
    if case == "existing_output":
        out_dir.mkdir(parents=True)
        (out_dir / f"{SAMPLE.stem}.hypnogram.csv").write_text("from an earlier run")
    argv = (["explain", night, "--epoch", "-1"] if case == "bad_epoch" else ["stage", night, "--out", out_dir])
    if case == "bad_threads":
        argv += ["--threads", "0"]
    out = cli(argv, tmp_path)
    assert out["code"] == 2 and not out["torch"], out
    expected = {"missing": "data: no file at", "not_edf": "is not an EDF/BDF file",
                "hypnogram_only": "holds no signals", "existing_output": "already exists. Pass --overwrite",
                "bad_epoch": "--epoch: received -1", "bad_threads": "--threads: received 0"}[case]
    assert expected in out["err"]
    if case == "existing_output":
        assert [p.name for p in out_dir.iterdir()] == [f"{SAMPLE.stem}.hypnogram.csv"]
    else:
        assert not (tmp_path / "results").exists(), "no folder is left behind when nothing is written"


def test_import_is_light_and_registration_follows_transformers(tmp_path):
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
import eeg_vlm
light = not any(m in sys.modules for m in ("torch", "transformers", "scipy.signal", "matplotlib"))
from transformers import AutoConfig, AutoProcessor, CONFIG_MAPPING
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING as IMAGE_TEXT
print(json.dumps({{"light": light, "config": "eeg_vlm" in CONFIG_MAPPING,
                  "model": IMAGE_TEXT[eeg_vlm.EEGVLMConfig].__name__}}))
"""
    assert run_python(code, tmp_path) == {"light": True, "config": True, "model": "EEGVLMForConditionalGeneration"}


def test_importing_a_model_module_first_still_registers(tmp_path):
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from eeg_vlm import EEGVLMConfig  # its module imports transformers while it is itself half-imported
from transformers import CONFIG_MAPPING
print(json.dumps({{"config": CONFIG_MAPPING["eeg_vlm"] is EEGVLMConfig}}))
"""
    assert run_python(code, tmp_path) == {"config": True}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads any file whatever its permissions: an unreadable file needs a normal user")
def test_unreadable_file_is_reported_before_torch_is_imported(tmp_path):
    locked = tmp_path / "locked.edf"
    locked.write_bytes(SAMPLE.read_bytes()[:4096])
    locked.chmod(0)
    out = cli(["stage", locked, "--out", tmp_path / "out"], tmp_path)
    assert out["code"] == 2 and not out["torch"] and "cannot be opened" in out["err"]

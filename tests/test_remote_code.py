"""Hub remote code: a saved model, its processor and feature extractor load with trust_remote_code in a process where
`import eeg_vlm` is blocked."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
from blocked_package import BLOCK_EEG_VLM
from safetensors.torch import load_file

SCRIPT = BLOCK_EEG_VLM + textwrap.dedent(
    """
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from transformers import AutoFeatureExtractor, AutoModelForImageTextToText, AutoProcessor

    path, out = sys.argv[1], sys.argv[2]
    model = AutoModelForImageTextToText.from_pretrained(path, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(path, trust_remote_code=True)
    assert "transformers_modules" in type(model).__module__, type(model).__module__
    inputs = processor(eeg=np.zeros(3000), sampling_rate=100, text="<image>x", return_tensors="pt")
    logits = model(**inputs).stage_logits
    spectral = type(processor.image_processor)(layout="spectral")  # the remote copy of rendering_eeg_vlm.py draws it
    assert spectral.render(np.zeros(3000), 100, eog=np.zeros(3000)).shape == (1, 224, 224, 3)
    extractor = AutoFeatureExtractor.from_pretrained(path, trust_remote_code=True)
    assert "transformers_modules" in type(extractor).__module__, type(extractor).__module__
    night = 20 * np.random.default_rng(0).standard_normal(2 * 6000)  # two epochs at 200 Hz, uV
    features = extractor(night, sampling_rate=200, return_tensors="pt")["features"]
    epoch = processor(eeg=night[:6000], sampling_rate=200, text="<image>x", return_features=True, return_tensors="pt")
    one = extractor(night[None, :6000], sampling_rate=200, return_tensors="pt")["features"]  # the epoch alone
    torch.testing.assert_close(epoch["features"], one, rtol=0, atol=0, equal_nan=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file({**state, "remote_features": features}, out)
    print(type(model).__module__, type(processor).__module__, tuple(logits.shape), tuple(features.shape))
    """
)


def test_remote_code_load_without_the_package(tiny_model_and_processor, tmp_path):
    model, processor = tiny_model_and_processor
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageTextToText"].startswith("modeling_eeg_vlm.")
    for name in ("configuration_eeg_vlm.py", "modeling_eeg_vlm.py", "image_processing_eeg_vlm.py",
                 "processing_eeg_vlm.py", "feature_extraction_eeg_vlm.py", "measurements_eeg_vlm.py",
                 "rendering_eeg_vlm.py", "image_inputs_eeg_vlm.py", "modeling_night_eeg_vlm.py"):
        assert (model_dir / name).exists()
    processor_config = json.loads((model_dir / "processor_config.json").read_text())
    assert processor_config["feature_extractor"]["auto_map"]["AutoFeatureExtractor"] == (
        "feature_extraction_eeg_vlm.EEGVLMFeatureExtractor")
    assert not list(model_dir.glob("*.bin"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(model_dir), str(tmp_path / "w.safetensors")],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "transformers_modules" in result.stdout and "(1, 5) (2, 22)" in result.stdout
    reloaded = load_file(tmp_path / "w.safetensors")
    night = 20 * np.random.default_rng(0).standard_normal(2 * 6000)  # the features the Hub user got are ours
    ours = processor.feature_extractor(night, sampling_rate=200)["features"]
    np.testing.assert_array_equal(reloaded["remote_features"].numpy(), ours)
    for name, tensor in model.state_dict().items():
        assert (reloaded[name] == tensor).all(), name

"""The embedded default model ships inside the package, loads with the Auto classes and scores one epoch."""

import json

import numpy as np
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

import eeg_vlm


def test_default_model_ships_as_safetensors_within_25_mb():
    path = eeg_vlm.default_model_path()
    weights = list(path.glob("*.safetensors"))
    assert weights and not list(path.glob("*.bin"))
    assert sum(w.stat().st_size for w in weights) <= 25 * 2**20
    metrics = json.loads((path / "metrics.json").read_text())
    training = metrics["training"]
    # a real training run, not a smoke test: the 10 Sleep-EDF-20 subjects replayed + the simulated subjects, every
    # night of the training split, and a held-out split of its own
    subjects = training["subjects"] + (10 if training.get("replayed_real_nights") else 0)
    assert subjects >= 15 and training["splits"]["train"] >= 20_000 and metrics["stage_head"]["n"] > 1000


def test_default_model_loads_with_auto_classes_and_scores_one_epoch():
    path = eeg_vlm.default_model_path()
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    t = np.arange(3 * 3000) / 100
    night = 120 * np.sin(2 * np.pi * 1.0 * t) + 10 * np.random.default_rng(0).standard_normal(t.size)  # slow waves
    # the middle epoch with its neighbours, as staging renders it (an epoch alone looks like a recording's edge)
    windows = eeg_vlm.epochs_with_context(night, 100.0, processor.image_processor.context_epochs)
    inputs = processor(eeg=windows[1:2], sampling_rate=100, text="<image>", return_tensors="pt")
    probs = model.classify(inputs["pixel_values"])
    assert probs.shape == (1, 5)
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0))
    assert model.config.stage_labels[int(probs.argmax())] == "N3"  # 120-uV 1-Hz waves over the whole epoch


def test_visual_from_keeps_the_visual_side_and_stage_head_and_nothing_else(tiny_model_dir, tiny_tokenizer, tmp_path):
    """default-model --visual-from: phase 1 taken from a model, the projector and LM left as freshly built."""
    import shutil

    from conftest import tiny_config, tiny_processor

    from eeg_vlm import EEGVLMForConditionalGeneration
    from eeg_vlm.train.default_model import VISUAL_SIDE, visual_side_from
    from eeg_vlm.train.modeling_setup import load_model

    torch.manual_seed(1)
    fresh = EEGVLMForConditionalGeneration(tiny_config(tiny_tokenizer))
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    src = tmp_path / "source"
    shutil.copytree(tiny_model_dir, src)  # the shared fixture is not written to
    (src / "metrics.json").write_text(json.dumps({"training": {"phase1_history": [1]}}))
    visual_side_from(src, fresh, tiny_processor(tiny_tokenizer, fresh.config), tmp_path / "phase1")
    source, _ = load_model(str(src))
    saved, _ = load_model(str(tmp_path / "phase1"))
    for k, v in saved.state_dict().items():
        want = source.state_dict()[k] if k.startswith(VISUAL_SIDE) else before[k]
        assert torch.equal(v, want), k
    assert any(k.startswith("model.stage_head.") for k in saved.state_dict())
    info = json.loads((tmp_path / "phase1" / "phase1.json").read_text())
    assert info == {"phase1_history": [1], "visual_from": str(src)}


def test_words_from_keeps_the_words_and_takes_the_visual_side(tiny_model_dir, tiny_tokenizer, tmp_path):
    """default-model --words-from: the visual side of the new phase 1, the projector and LM of the given model."""
    import torch
    from conftest import tiny_config, tiny_processor

    from eeg_vlm import EEGVLMForConditionalGeneration
    from eeg_vlm.train.default_model import VISUAL_SIDE, transplant_words
    from eeg_vlm.train.modeling_setup import load_model

    torch.manual_seed(2)
    visual = EEGVLMForConditionalGeneration(tiny_config(tiny_tokenizer))
    visual.save_pretrained(tmp_path / "phase1")
    tiny_processor(tiny_tokenizer, visual.config).save_pretrained(tmp_path / "phase1")
    transplant_words(tmp_path / "phase1", tiny_model_dir, tmp_path / "out")
    words, _ = load_model(str(tiny_model_dir))
    out, _ = load_model(str(tmp_path / "out"))
    for k, v in out.state_dict().items():
        want = visual.state_dict()[k] if k.startswith(VISUAL_SIDE) else words.state_dict()[k]
        assert torch.equal(v, want), k

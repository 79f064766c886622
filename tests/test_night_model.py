"""The night-level stage model: config, shapes, windows, missing modalities, save/load, training, staging."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

N_FEAT = 4


def night_model(tokenizer, **options):
    from eeg_vlm import EEGVLMForConditionalGeneration

    torch.manual_seed(0)
    options.setdefault("night_encoder", "gru")
    options.setdefault("night_hidden_size", 16)
    options.setdefault("night_feature_names", [f"f{i}" for i in range(N_FEAT)])
    return EEGVLMForConditionalGeneration(tiny_config(tokenizer, **options)).eval()


def test_models_without_night_encoder_are_unchanged(tiny_model_and_processor):
    model, _ = tiny_model_and_processor
    assert model.config.night_encoder is None and model.model.night_encoder is None
    with pytest.raises(ValueError, match="night_encoder is None"):
        model.classify_night(image_embeds=torch.zeros(3, 32))


@pytest.mark.parametrize("encoder", ["gru", "transformer"])
def test_classify_night_gives_one_distribution_per_epoch(tiny_tokenizer, encoder):
    model = night_model(tiny_tokenizer, night_encoder=encoder)
    pixels = torch.randn(7, 3, 32, 32)
    feats = np.random.default_rng(0).normal(size=(7, N_FEAT)).astype(np.float32)
    probs = model.classify_night(pixels, feats)
    assert probs.shape == (7, 5)
    torch.testing.assert_close(probs.sum(-1), torch.ones(7))


def test_either_modality_alone_works_and_neither_is_refused(tiny_tokenizer):
    model = night_model(tiny_tokenizer)
    feats = np.random.default_rng(0).normal(size=(6, N_FEAT))
    assert model.classify_night(features=feats).shape == (6, 5)
    assert model.classify_night(pixel_values=torch.randn(6, 3, 32, 32)).shape == (6, 5)
    with pytest.raises(ValueError, match="received neither"):
        model.classify_night()


def test_wrong_feature_count_names_the_argument(tiny_tokenizer):
    model = night_model(tiny_tokenizer)
    with pytest.raises(ValueError, match="features: received 3 features per epoch, expected 4"):
        model.classify_night(features=np.zeros((5, 3)))


def test_long_nights_are_read_in_overlapping_windows(tiny_tokenizer):
    model = night_model(tiny_tokenizer, night_window=8, night_window_overlap=2)
    emb = torch.randn(30, 32)
    windowed = model.classify_night(image_embeds=emb)
    assert windowed.shape == (30, 5) and torch.isfinite(windowed).all()
    model.config.night_window = 64  # the whole night in one window: the windows only change far-apart context
    whole = model.classify_night(image_embeds=emb)
    assert not torch.allclose(windowed, whole)
    model.config.night_window, model.config.night_window_overlap = 30, 0
    torch.testing.assert_close(model.classify_night(image_embeds=emb), whole)


def test_night_centred_features_ignore_a_constant_offset(tiny_tokenizer):
    enc = night_model(tiny_tokenizer).model.night_encoder
    x = torch.randn(1, 20, N_FEAT)
    shifted = x + torch.tensor([3.0, 0.0, -2.0, 0.5])
    a, b = enc.feature_inputs(x), enc.feature_inputs(shifted)
    torch.testing.assert_close(a[..., N_FEAT : 2 * N_FEAT], b[..., N_FEAT : 2 * N_FEAT])  # centred columns
    assert not torch.allclose(a[..., :N_FEAT], b[..., :N_FEAT])  # the absolute level is still seen


def test_night_scaled_features_ignore_how_far_a_montage_spreads_the_stages(tiny_tokenizer):
    """``night_feature_scale``: a fourth view, the night-centred features over their night spread, the same when
    every feature's night is stretched about its median; off by default (older models load unchanged)."""
    assert night_model(tiny_tokenizer).model.night_encoder.feature_proj.in_features == 3 * N_FEAT
    enc = night_model(tiny_tokenizer, night_feature_scale=True).model.night_encoder
    assert enc.feature_proj.in_features == 4 * N_FEAT
    x = torch.rand(1, 40, N_FEAT) * 2 - 1  # within the clip (8 SDs) before and after the stretch
    med = x.median(dim=1, keepdim=True).values
    stretched = med + torch.tensor([2.0, 0.5, 3.0, 1.0]) * (x - med) + 1.0
    a, b = enc.feature_inputs(x), enc.feature_inputs(stretched)
    torch.testing.assert_close(a[..., 2 * N_FEAT : 3 * N_FEAT], b[..., 2 * N_FEAT : 3 * N_FEAT])  # scaled view
    assert not torch.allclose(a[..., N_FEAT : 2 * N_FEAT], b[..., N_FEAT : 2 * N_FEAT])  # the centred one moves
    assert (a[..., 3 * N_FEAT :] == 1).all()  # presence last


def test_missing_features_are_masked_not_propagated(tiny_tokenizer):
    model = night_model(tiny_tokenizer)
    feats = np.random.default_rng(1).normal(size=(6, N_FEAT))
    feats[:, 3] = np.nan  # e.g. no EMG channel
    probs = model.classify_night(features=feats)
    assert torch.isfinite(probs).all()
    inputs = model.model.night_encoder.feature_inputs(torch.tensor(feats, dtype=torch.float32)[None])
    assert (inputs[0, :, 2 * N_FEAT + 3] == 0).all() and (inputs[0, :, 2 * N_FEAT] == 1).all()  # presence mask


def test_night_model_round_trips_with_its_statistics(tiny_tokenizer, tmp_path):
    from eeg_vlm import EEGVLMForConditionalGeneration

    model = night_model(tiny_tokenizer)
    model.model.night_encoder.feature_mean.fill_(2.0)
    model.model.night_encoder.feature_std.fill_(3.0)
    feats = np.random.default_rng(2).normal(size=(5, N_FEAT))
    before = model.classify_night(features=feats)
    model.save_pretrained(tmp_path)
    loaded = EEGVLMForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert loaded.config.night_encoder == "gru" and loaded.config.night_feature_names == [f"f{i}" for i in range(4)]
    torch.testing.assert_close(loaded.model.night_encoder.feature_std, torch.full((N_FEAT,), 3.0))
    torch.testing.assert_close(loaded.classify_night(features=feats), before)


@pytest.mark.parametrize("option, value, match", [
    ("night_encoder", "lstm", "night_encoder: received 'lstm'"),
    ("night_window_overlap", 240, "night_window_overlap: received 240"),
    ("night_dropout", 1.5, "night_dropout: received 1.5"),
    ("night_hidden_size", 0, "night_hidden_size: received 0"),
])
def test_bad_night_options_are_refused(tiny_tokenizer, option, value, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(tiny_tokenizer, **{"night_encoder": "gru", option: value})


def test_training_learns_stages_from_context(tiny_tokenizer):
    """Stages visible only in the features (one feature per stage) are learnt; the best weights are kept."""
    from eeg_vlm.train.night import train_night_encoder
    from eeg_vlm.train.night_data import NightSequence

    rng = np.random.default_rng(0)
    model = night_model(tiny_tokenizer, night_feature_names=[f"f{i}" for i in range(5)])

    def night(i):
        stages = np.repeat(rng.integers(0, 5, 12), 10)  # 10-epoch runs, 120 epochs
        feats = rng.normal(0, 1.0, (120, 5)).astype(np.float32)
        feats[np.arange(120), stages] += 2.5
        return NightSequence(f"n{i}", i, "sim", stages, feats, None)

    train, val = [night(i) for i in range(12)], [night(20 + i) for i in range(2)]
    record = train_night_encoder(model, train, val, epochs=8, batch_size=4, lr=5e-3, use_images=False,
                                 progress=False)
    assert record["best_val_kappa"] > 0.8
    assert record["best_val_kappa"] == max(p["val_kappa"] for p in record["passes"])


def test_summary_flags_a_sleep_onset_rem_period():
    from eeg_vlm.staging import NightResult

    def result(stages):
        n = len(stages)
        probs = np.full((n, 5), 0.2, dtype=np.float32)
        return NightResult(stages=stages, probabilities=probs, confidence=probs.max(1), reasoning=[None] * n,
                           epoch_onsets=np.arange(n) * 30.0)

    early = result(["W"] * 10 + ["N1", "N2"] * 5 + ["REM"] * 4 + ["N2"] * 20).summary()
    assert early["REM_latency_from_onset"] == 5.0 and early["SOREMP"] is True
    late = result(["W"] * 10 + ["N2"] * 60 + ["REM"] * 4).summary()
    assert late["REM_latency_from_onset"] == 30.0 and late["SOREMP"] is False
    assert result(["W"] * 4 + ["N2"] * 10).summary()["SOREMP"] is False  # no REM: nothing to flag


def test_stage_night_uses_the_night_model_and_can_fall_back(tiny_tokenizer, tmp_path):
    """``stage_night`` reads the night with the night model when the model has one; ``night_level=False`` gives the
    per-epoch stage head, as before."""
    from conftest import tiny_processor

    from eeg_vlm import stage_night
    from eeg_vlm.train.night_data import feature_names

    model = night_model(tiny_tokenizer, night_feature_names=list(feature_names()))
    model.save_pretrained(tmp_path)
    tiny_processor(tiny_tokenizer, model.config).save_pretrained(tmp_path)
    x = 30 * np.random.default_rng(0).standard_normal(12 * 3000)  # 12 epochs of noise at 100 Hz, uV
    night = stage_night(x, sampling_rate=100, model=tmp_path, progress=False)
    epoch = stage_night(x, sampling_rate=100, model=tmp_path, progress=False, night_level=False)
    assert night.probabilities.shape == epoch.probabilities.shape == (12, 5)
    np.testing.assert_allclose(night.probabilities.sum(1), 1.0, rtol=1e-5)
    assert not np.allclose(night.probabilities, epoch.probabilities)


def test_stage_night_marks_features_a_50_hz_recording_cannot_measure(tiny_tokenizer):
    """A 50-Hz night is resampled to 100 Hz for the model; the features reading above its 25-Hz Nyquist frequency
    reach the night model as NaN (masked), not as the empty band's floor."""
    from eeg_vlm.io import load_recording
    from eeg_vlm.measurements_eeg_vlm import unmeasurable_features
    from eeg_vlm.staging import _night_features
    from eeg_vlm.train.night_data import feature_names

    model = night_model(tiny_tokenizer, night_feature_names=list(feature_names()))
    x = 30 * np.random.default_rng(1).standard_normal(6 * 1500)  # 6 epochs at 50 Hz, uV
    rec = load_recording(x, sampling_rate=50, target_rate=100.0, epoch_sec=30.0)
    feats = _night_features(model, None, rec, None, None)
    names = list(feature_names())
    gone = [names.index(n) for n in unmeasurable_features(50)]
    assert np.isnan(feats[:, gone]).all()
    assert np.isfinite(feats[:, names.index("sedf_delta")]).all()


def test_night_inputs_chooses_what_the_night_model_reads(tiny_tokenizer):
    """``config.night_inputs="features"`` reads the features even when images are given (the same output as
    features alone); ``"image"`` the images; a bad value is refused with the allowed ones."""
    import torch

    from eeg_vlm import EEGVLMConfig

    model = night_model(tiny_tokenizer)
    rng = np.random.default_rng(0)
    pixels = torch.from_numpy(rng.random((10, 3, 32, 32)).astype(np.float32))
    with torch.no_grad():
        images = model.model.encode_images(pixels)["pooled_visual"]  # (T, Dv)
    feats = rng.standard_normal((10, N_FEAT)).astype(np.float32)
    both = model.classify_night(image_embeds=images, features=feats)
    model.config.night_inputs = "features"
    assert torch.allclose(model.classify_night(image_embeds=images, features=feats), model.classify_night(features=feats))
    assert not torch.allclose(model.classify_night(image_embeds=images, features=feats), both)
    model.config.night_inputs = "image"
    assert torch.allclose(model.classify_night(image_embeds=images, features=feats),
                          model.classify_night(image_embeds=images))
    with pytest.raises(ValueError, match="night_inputs"):
        EEGVLMConfig(night_inputs="eeg")


def test_a_fresh_night_encoder_reads_both_modalities(tiny_tokenizer):
    """Training starts from a model that may read features only (the embedded one): the fresh night encoder is
    trained and scored on both, and only ``--night-inputs`` sets what the saved model reads."""
    from eeg_vlm.train.night import add_night_encoder

    model = night_model(tiny_tokenizer, night_inputs="features")
    assert add_night_encoder(model, hidden_size=8).config.night_inputs == "both"


def test_real_sequences_are_read_real_repeats_times_per_pass(tiny_tokenizer, monkeypatch):
    """``real_repeats`` weights the real Sleep-EDF-20 feature sequences (each read k times a pass, simulated ones
    once); anything but an int >= 1 is refused with the argument's name."""
    from eeg_vlm.train import night
    from eeg_vlm.train.night_data import NightSequence

    rng = np.random.default_rng(0)
    model = night_model(tiny_tokenizer)

    def seq(i, source):
        return NightSequence(f"{source}{i}", i, source, rng.integers(0, 5, 40),
                             rng.normal(size=(40, N_FEAT)).astype(np.float32), None)

    train = [seq(0, "sim"), seq(1, "sim"), seq(2, "real")]
    seen, batch = [], night._batch
    monkeypatch.setattr(night, "_batch", lambda seqs, *a, **k: (seen.extend(s.name for s in seqs), batch(seqs, *a, **k))[1])
    night.train_night_encoder(model, train, [seq(3, "sim")], epochs=2, batch_size=2, use_images=False,
                              real_repeats=3, progress=False)
    assert sorted(seen) == sorted(["real2"] * 6 + ["sim0"] * 2 + ["sim1"] * 2)
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match=f"real_repeats: received {bad}"):
            night.train_night_encoder(model, train, train, epochs=1, use_images=False, real_repeats=bad,
                                      progress=False)


def test_montage_jitter_equals_measuring_a_scaled_signal(monkeypatch):
    """The real sequences' gain augmentation recomputes the nine Sleep-EDF-20 features exactly: a power gain g
    gives the features of the signal scaled by sqrt(g); NaN (not measured) stays NaN."""
    from eeg_vlm.measurements_eeg_vlm import sedf_channel_features
    from eeg_vlm.train.night_data import montage_jitter

    class FixedGain:  # rng whose draws are the gain (log power) and no per-band tilt
        def uniform(self, lo, hi, size=None):
            return np.log(4.0) if size is None else np.zeros(size)

    x = np.random.default_rng(0).normal(0, 20.0, (6, 3000))  # uV, 30 s at 100 Hz
    before, after = sedf_channel_features(x), sedf_channel_features(2.0 * x)
    before[0, 3] = np.nan
    got = montage_jitter(torch.from_numpy(before), FixedGain(), list(range(9))).numpy()
    np.testing.assert_allclose(got[1:], after[1:], rtol=1e-9)
    assert np.isnan(got[0, 3])


def test_real_night_cv_scores_whole_nights_50_hz_nights_and_excerpts(tiny_tokenizer, monkeypatch):
    """The real-night cross-validation of ``night --ablation``: every real night tested once, whole, as a 50-Hz
    recording and cut into 30-min excerpts; with ``unseen`` only that derivation is tested and none trains."""
    import argparse

    from eeg_vlm.train import night
    from eeg_vlm.train.night_data import NightSequence, feature_names

    rng = np.random.default_rng(0)
    model = night_model(tiny_tokenizer, night_hidden_size=8)  # the CV's fresh encoders read feature_names()

    def seq(subject, channel, source):
        stages = np.repeat(rng.integers(0, 5, 12), 10)  # 120 epochs: two 30-min excerpts
        feats = rng.normal(size=(120, len(feature_names()))).astype(np.float32)
        return NightSequence(f"SC40{subject}1E0/{channel}", subject, source, stages, feats, None)

    reals = [seq(s, c, "real") for s in range(6) for c in ("EEG Fpz-Cz", "EEG Pz-Oz")]
    sims = [seq(s, "EEG C4-M1", "sim") for s in range(6)]
    args = argparse.Namespace(encoder="gru", hidden_size=8, seed=0, feature_scale=False, epochs=1, real_repeats=1)
    whole, low, excerpts = night._real_cv(model, args, sims, reals, True, False, True, True)
    assert whole["n"] == low["n"] == excerpts["n"] == 12 * 120
    seen, train = [], night.train_night_encoder
    monkeypatch.setattr(night, "train_night_encoder",
                        lambda m, tr, va, **k: (seen.extend(s.name for s in tr + va), train(m, tr, va, **k))[1])
    only, _, only_excerpts = night._real_cv(model, args, sims, reals, True, False, True, True, unseen="EEG Pz-Oz")
    assert only["n"] == 6 * 120 and seen and not any(n.endswith("/EEG Pz-Oz") for n in seen)
    assert only_excerpts["n"] == 6 * 120  # the DREAMS-like proxy: the unseen derivation's 30-min excerpts

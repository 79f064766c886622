"""Faithfulness promises: true claims check out, false claims are caught per type, self-consistency holds for the
label CoTs and fails when the stated evidence does not support the stage."""

import re

import pytest

from eeg_vlm.reasoning.cot import make_cot
from eeg_vlm.reasoning.faithfulness import check_claims, faithfulness_report, self_consistent

N3 = dict(delta_rel=0.9, theta_rel=0.05, alpha_rel=0.02, sigma_rel=0.02, beta_rel=0.01, amplitude_uv=180.0,
          rms_uv=35.0, slow_wave_fraction=0.42, spindle_count=0.0, kcomplex_count=1.0, alpha_fraction=0.0,
          eye_movement_count=0.0, emg_rms_uv=1.3)
N2 = dict(N3, delta_rel=0.75, slow_wave_fraction=0.05, spindle_count=3.0, amplitude_uv=90.0, sigma_rel=0.06)


def test_true_claims_check_out():
    text = make_cot(N3, "N3", prev_stage="N2", next_stage="N3", prev_features=N2, next_features=N3)
    claims = check_claims(text, N3, prev_features=N2, next_features=N3, prev_stage="N2", next_stage="N3")
    checked = [c for c in claims if c["ok"] is not None]
    assert len(checked) >= 12 and all(c["ok"] for c in checked)
    assert self_consistent(text) is True


@pytest.mark.parametrize(("phrase", "kind"), [
    (r"slow waves cover \d+ %", "slow_wave_fraction"),
    (r"detected \d+ sleep spindles?", "spindle_count"),
    (r"peak-to-peak amplitude is \d+ uV", "amplitude_uv"),
    (r"chin EMG RMS is \d+\.\d uV", "emg_rms_uv"),
    (r"delta \(0\.5-4 Hz\) carries \d+ %", "delta_rel"),
])
def test_false_claims_are_caught(phrase, kind):
    text = make_cot(N3, "N3")
    wrong = {"slow_wave_fraction": "slow waves cover 3 %", "spindle_count": "detected 7 sleep spindles",
             "amplitude_uv": "peak-to-peak amplitude is 40 uV", "emg_rms_uv": "chin EMG RMS is 4.9 uV",
             "delta_rel": "delta (0.5-4 Hz) carries 30 %"}[kind]
    forged = re.sub(phrase, wrong, text, count=1)
    assert forged != text
    verdicts = {c["type"]: c["ok"] for c in check_claims(forged, N3)}
    assert verdicts[kind] is False


def test_stage_not_supported_by_stated_evidence_is_inconsistent():
    text = make_cot(N3, "N3")
    assert self_consistent(text) is True
    lowered = re.sub(r"slow waves cover \d+ %", "slow waves cover 3 %", text, count=1)
    assert self_consistent(lowered) is False  # 3 % cannot give N3 under the 20 % rule
    assert self_consistent("Stage: N2") is False  # a bare answer states no evidence


def test_disagreement_with_the_rules_is_consistent_when_stated_plainly():
    text = make_cot(N2, "N1")  # the features say N2; the stage given is N1; the text says so
    assert "but the epoch as a whole is staged N1" in text
    assert self_consistent(text) is True
    assert self_consistent(text.replace("Stage: N1", "Stage: REM")) is False  # names N1, ends on another stage
    old = text.replace("but the epoch as a whole is staged N1", "but the scorer marked N1")  # first models' words
    assert self_consistent(old) is True


def test_report_rates():
    texts = [make_cot(N3, "N3"), re.sub(r"detected \d+", "detected 9", make_cot(N2, "N2"), count=1)]
    rep = faithfulness_report(texts, [N3, N2])
    assert rep["faithful_claim_rate_per_type"]["spindle_count"] == 0.5
    assert 0.9 < rep["faithful_claim_rate"] < 1.0
    assert rep["self_consistency_rate"] == 1.0  # 9 spindles still support N2


def test_grounded_prompt_states_the_measured_numbers():
    from eeg_vlm.reasoning.grounding import grounded_prompt
    from eeg_vlm.processing_eeg_vlm import STAGING_PROMPT

    prompt = grounded_prompt(N3)
    assert prompt.startswith(STAGING_PROMPT)
    for phrase in ("delta (0.5-4 Hz) carries 90 %", "slow waves cover 42 % of the epoch", "detected 0 sleep spindles",
                   "and 1 K-complex;", "chin EMG RMS is 1.3 uV", "peak-to-peak amplitude is 180 uV"):
        assert phrase in prompt
    assert "no EOG channel" in grounded_prompt(dict(N3, eye_movement_count=float("nan")))


def test_grounded_prompt_cites_every_number_in_the_cot_phrase():
    from eeg_vlm.reasoning.cot import make_cot, parse_claims
    from eeg_vlm.reasoning.grounding import grounded_prompt

    prev = dict(N3, slow_wave_fraction=0.12, spindle_count=2.0)
    prompt = grounded_prompt(N3, prev_features=prev, next_features=N3)
    cot = make_cot(N3, "N3", prev_stage="N2", next_stage="N3", prev_features=prev, next_features=N3)
    said = [(c["type"], c["value"]) for c in parse_claims(prompt)]
    cited = [(c["type"], c["value"]) for c in parse_claims(cot) if not c["type"].endswith("_stage")]
    assert said == cited  # same claim types, same numbers, same order: the model can copy them


def test_grounded_prompt_states_the_staged_neighbours():
    from eeg_vlm.reasoning.grounding import grounded_prompt

    prompt = grounded_prompt(N3, stage="N3", stages_before=["N2", "N3"], stages_after=["N3"])
    assert prompt.splitlines()[-1] == ("Staged with the whole night: this epoch N3; the 2 epochs before it (oldest "
                                       "first) N2, N3; the epoch after it N3.")
    assert "Staged" not in grounded_prompt(N3)  # a night not staged: no staging sentence
    assert "the recording starts here" in grounded_prompt(N3, stage="W", stages_after=["W"])
    with pytest.raises(ValueError, match="stage: received None with staged neighbours"):
        grounded_prompt(N3, stages_before=["N2"])


def test_stage_night_prompts_state_the_nights_stages(tiny_model_dir, monkeypatch):
    import eeg_vlm
    from eeg_vlm.reasoning.grounding import staged_sentence
    from eeg_vlm.train import evaluate

    seen = []
    original = evaluate.generate_cot

    def spy(*args, **kwargs):
        seen.extend(kwargs["prompt"])
        return original(*args, **kwargs)

    monkeypatch.setattr(evaluate, "generate_cot", spy)
    result = eeg_vlm.stage_night(eeg_vlm.sample_night_path(), model=tiny_model_dir, explain=[0, 7], progress=False)
    st = result.stages
    assert seen[0].splitlines()[-1] == staged_sentence(st[0], [], st[1:6])
    assert seen[1].splitlines()[-1] == staged_sentence(st[7], st[2:7], st[8:13])


def test_an_excerpt_explained_with_the_nights_stages_reads_as_in_the_whole_night(tiny_model_dir):
    import eeg_vlm

    rec = eeg_vlm.io.load_recording(eeg_vlm.sample_night_path())
    whole = eeg_vlm.stage_night(rec.data, sampling_rate=rec.sampling_rate, model=tiny_model_dir, explain=[20],
                                progress=False)
    spe = rec.samples_per_epoch
    part = eeg_vlm.stage_night(rec.data[19 * spe : 22 * spe], sampling_rate=rec.sampling_rate, model=tiny_model_dir,
                               explain=[1], progress=False, night_stages=whole.stages, night_offset=19)
    assert part.reasoning[1] == whole.reasoning[20]
    with pytest.raises(ValueError, match="night_offset: received 478"):
        eeg_vlm.stage_night(rec.data[19 * spe : 22 * spe], sampling_rate=rec.sampling_rate, model=tiny_model_dir,
                            explain=[1], progress=False, night_stages=whole.stages, night_offset=478)


def test_night_result_carries_checked_claims_for_explained_epochs(tiny_model_dir):
    import eeg_vlm

    result = eeg_vlm.stage_night(eeg_vlm.sample_night_path(), model=tiny_model_dir, explain=[4], ground=True,
                                 progress=False)
    assert isinstance(result.claims[4], list) and result.claims[3] is None
    assert all(set(c) >= {"type", "value", "measured", "ok"} for c in result.claims[4])

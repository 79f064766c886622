"""Inference-side honesty: a generated Chain-of-Thought shown for a staged night names no scorer or expert, ends
on the staged stage, cites the night's staged neighbours and says plainly when the rules give another stage."""

import re

import pytest

from eeg_vlm.reasoning.cot import make_cot
from eeg_vlm.reasoning.explanation import night_explanation
from eeg_vlm.reasoning.faithfulness import check_claims, has_scorer_wording, self_consistent

# written by the first shipped default model for epoch 400 of the sample night (staged REM between two N2 epochs)
GENERATED = "\n".join([
    '1. Background rhythm: alpha (8-12 Hz) dominates 0 % of the epoch; alpha carries 3 % of the 0.5-30 Hz'
    ' power, theta (4-8 Hz) 16 % and beta (16-30 Hz) 1 %; the peak-to-peak amplitude is 57 uV. Alpha '
    'stays under 50 % of the epoch and theta outweighs it: the alpha rhythm has given way to a sleep '
    'background.',
    '2. Slow waves: slow waves cover 0 % of the epoch (0.5-2 Hz waves of at least 75 uV peak-to-peak), '
    'which is below the 20 % criterion for N3; delta (0.5-4 Hz) carries 80 % of the power.',
    '3. Spindles and K-complexes: detected 0 sleep spindles (11-16 Hz, 0.5-2 s) and 0 K-complexes; sigma '
    '(11-16 Hz) carries 1 % of the power. Without them this epoch shows no sign of N2 on its own.',
    '4. Eye movements: 0 rapid eye movements on the EOG. Without rapid eye movements the EOG gives no '
    'sign of REM sleep.',
    '5. Muscle tone: chin EMG RMS is 2.0 uV, intermediate, as in non-REM sleep.',
    '6. Context: the previous epoch was scored REM and the next epoch was scored REM. In the previous '
    'epoch, slow waves covered 0 % and alpha 0 %, with 0 spindles and 0 K-complexes. In the next epoch, '
    'slow waves covered 3 % and alpha 0 %, with 2 spindles and 1 K-complex.',
    '7. AASM rules in order: N3 (slow waves at least 20 % of the epoch) not met; W (alpha over more than '
    '50 % of the epoch) not met; N2 (a sleep spindle or K-complex) not met; REM (rapid eye movements with'
    ' chin EMG below 1.0 uV) not met; W (chin EMG above 2.5 uV or beta at least 25 %) not met; N1 (none '
    'of the above) met.',
    'Conclusion: the measured features alone suggest N1, but the scorer marked REM; a neighbouring epoch '
    'is also scored REM, so the scorer may have followed the surrounding stage. The expert label is kept.',
    'Stage: REM',
])
N2 = dict(delta_rel=0.75, theta_rel=0.1, alpha_rel=0.02, sigma_rel=0.06, beta_rel=0.01, amplitude_uv=90.0,
          slow_wave_fraction=0.05, spindle_count=3.0, kcomplex_count=1.0, alpha_fraction=0.0, eye_movement_count=0.0,
          emg_rms_uv=1.3)


def test_no_scorer_or_expert_wording_is_shown():
    assert has_scorer_wording(GENERATED)
    text = night_explanation(GENERATED, "REM", prev_stage="N2", next_stage="N2")
    assert not has_scorer_wording(text)
    assert not re.search(r"scorer|expert|kept|scored", text, re.IGNORECASE)


def test_final_stage_is_the_staged_stage_and_a_rule_disagreement_is_said_plainly():
    text = night_explanation(GENERATED, "REM", prev_stage="N2", next_stage="N2")
    assert text.splitlines()[-1] == "Stage: REM"
    assert "the measured features alone suggest N1, but the epoch as a whole is staged REM;" in text
    assert self_consistent(text) is True
    other = night_explanation(GENERATED, "N1", prev_stage="N2", next_stage="N2")
    assert other.splitlines()[-2:] == ["Conclusion: the measured features point to N1.", "Stage: N1"]


def test_neighbour_claims_are_the_nights_staged_neighbours():
    text = night_explanation(GENERATED, "REM", prev_stage="N2", next_stage="W")
    assert "6. Context: the previous epoch is staged N2 and the next epoch is staged W. In the previous epoch," in text
    claims = check_claims(text, N2, prev_stage="N2", next_stage="W")
    assert [(c["type"], c["ok"]) for c in claims if c["type"] in ("prev_stage", "next_stage")] == [
        ("prev_stage", True), ("next_stage", True)]
    edge = night_explanation(GENERATED, "REM", prev_stage="UNS", next_stage="N2")  # unscorable: not cited
    assert "6. Context: the next epoch is staged N2. In the previous epoch," in edge
    assert "the neighbouring stages are not given." in night_explanation(GENERATED, "REM")


def test_measurement_and_rule_steps_are_kept_as_generated():
    text = night_explanation(GENERATED, "REM", prev_stage="N2", next_stage="N2")
    kept = [line for line in GENERATED.splitlines() if line[:2] in ("1.", "2.", "3.", "4.", "5.", "7.")]
    assert [line for line in text.splitlines() if line[:2] in ("1.", "2.", "3.", "4.", "5.", "7.")] == kept
    # a rule step that contradicts the stated numbers stays visible to the checks
    wrong = GENERATED.replace("N1 (none of the above) met", "N2 (a sleep spindle or K-complex) met")
    assert self_consistent(night_explanation(wrong, "N2", prev_stage="N2", next_stage="N2")) is False


@pytest.mark.parametrize(("stage", "prev", "nxt"), [("N2", "N2", "N3"), ("N1", None, "N2"), ("REM", "REM", None)])
def test_a_text_already_true_of_the_night_is_unchanged(stage, prev, nxt):
    text = make_cot(N2, stage, prev_stage=prev, next_stage=nxt, prev_features=N2, next_features=N2)
    assert night_explanation(text, stage, prev_stage=prev, next_stage=nxt) == text


def test_unscorable_epoch_and_text_without_numbers():
    assert night_explanation(GENERATED, "UNS").splitlines()[-1] == "Stage: UNS"
    text = night_explanation("REM REM REM", "N2")
    assert text.splitlines()[-1] == "Stage: N2" and "states no measurement" in text
    with pytest.raises(ValueError, match="stage: received 'S2'"):
        night_explanation(GENERATED, "S2")


def test_stage_night_reasoning_ends_on_the_staged_stage(tiny_model_dir):
    import eeg_vlm

    result = eeg_vlm.stage_night(eeg_vlm.sample_night_path(), model=tiny_model_dir, explain=[4, 5], progress=False)
    for i in (4, 5):
        assert result.reasoning[i].splitlines()[-1] == f"Stage: {result.stages[i]}"
        assert not has_scorer_wording(result.reasoning[i])


def test_evaluate_reports_scorer_wording_generated_and_shown():
    from datasets import Dataset

    from eeg_vlm.train.evaluate import _wording

    data = Dataset.from_dict({"recording": ["a", "a", "a", "b"]})
    texts = [GENERATED, make_cot(N2, "N2")]
    out = _wording(data, [1, 3], texts, staged=["N2", "REM", "N2", "N2"])
    assert out["generated_scorer_wording_rate"] == 0.5 and out["shown_scorer_wording_rate"] == 0.0
    assert out["shown_self_consistency_rate"] == 1.0

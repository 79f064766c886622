"""Tests for eeg_vlm.reasoning.cot (feature dicts built by hand, in the measurement schema)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from eeg_vlm.reasoning.cot import (
    CLAIM_PATTERNS,
    STAGES,
    make_cot,
    parse_claims,
    parse_stage,
    stage_from_features,
)

NAN = float("nan")
BASE = dict(delta_rel=0.30, theta_rel=0.30, alpha_rel=0.15, sigma_rel=0.05, beta_rel=0.10, amplitude_uv=60.0,
            rms_uv=15.0, slow_wave_fraction=0.02, spindle_count=0.0, kcomplex_count=0.0, alpha_fraction=0.10,
            eye_movement_count=0.0, emg_rms_uv=1.8)
# one hand-made epoch per stage, each showing that stage's textbook signs
TYPICAL = {
    "W": dict(BASE, alpha_rel=0.45, alpha_fraction=0.72, theta_rel=0.12, amplitude_uv=48.6, emg_rms_uv=3.37),
    "N1": dict(BASE, theta_rel=0.41, alpha_fraction=0.18, alpha_rel=0.12, eye_movement_count=0.0, emg_rms_uv=1.84),
    "N2": dict(BASE, spindle_count=3.0, kcomplex_count=1.0, sigma_rel=0.11, amplitude_uv=121.2, emg_rms_uv=1.5),
    "N3": dict(BASE, delta_rel=0.71, slow_wave_fraction=0.386, amplitude_uv=212.9, spindle_count=1.0,
               emg_rms_uv=1.36),
    "REM": dict(BASE, theta_rel=0.36, eye_movement_count=6.0, emg_rms_uv=0.64, amplitude_uv=41.0),
}
# numbers that belong to the fixed template (band edges, criteria, thresholds, step numbers)
TEMPLATE_NUMBERS = {"0.5", "2", "4", "8", "11", "12", "16", "30", "75", "20", "50", "1.0", "2.5", "25"}
NUMBER = re.compile(r"(?<![A-Za-z\d.])\d+(?:\.\d+)?")  # a number, not the digit of a stage name (N2)
FORMATS = {"_fraction": lambda x: round(100 * x) / 100, "_rel": lambda x: round(100 * x) / 100}


def _as_printed(key: str, value: float) -> float:
    for suffix, fmt in FORMATS.items():
        if key.endswith(suffix):
            return fmt(value)
    return round(value, 1) if key == "emg_rms_uv" else float(round(value))


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_ends_with_its_label_and_the_rules_agree(stage):
    text = make_cot(TYPICAL[stage], stage)
    assert text.splitlines()[-1] == f"Stage: {stage}"
    assert parse_stage(text) == stage
    assert stage_from_features(TYPICAL[stage]) == stage
    assert text.splitlines()[-2] == f"Conclusion: the measured features point to {stage}."
    assert [line[:2] for line in text.splitlines()[:7]] == ["1.", "2.", "3.", "4.", "5.", "6.", "7."]


@pytest.mark.parametrize("stage", STAGES)
def test_every_number_in_the_text_is_a_feature_value_as_formatted(stage):
    feats = TYPICAL[stage]
    prev = dict(BASE, slow_wave_fraction=0.137, spindle_count=2.0)
    text = make_cot(feats, stage, prev_stage="N2", next_stage=stage, prev_features=prev, next_features=feats)
    claims = parse_claims(text)
    for claim in claims:
        kind, value = claim["type"], claim["value"]
        if kind.startswith(("prev_", "next_")) and not kind.endswith("_stage"):
            source = prev if kind.startswith("prev_") else feats
            assert value == pytest.approx(_as_printed(kind[5:], source[kind[5:]]), abs=1e-12), kind
        elif kind in feats:
            assert value == pytest.approx(_as_printed(kind, feats[kind]), abs=1e-12), kind
    # blank out every claimed number: what is left must be the template's own constants
    skeleton = re.sub(r"(?m)^[1-7]\. ", "", text)  # step numbers
    for pattern in CLAIM_PATTERNS.values():
        skeleton = pattern.sub(lambda m: NUMBER.sub("#", m.group(0)), skeleton)
    assert set(NUMBER.findall(skeleton)) <= TEMPLATE_NUMBERS


def test_numbers_use_fixed_phrases_and_rounding():
    text = make_cot(TYPICAL["N3"], "N3")
    assert "slow waves cover 39 % of the epoch" in text
    assert "the peak-to-peak amplitude is 213 uV" in text
    assert "chin EMG RMS is 1.4 uV" in text
    assert "detected 1 sleep spindle (11-16 Hz, 0.5-2 s) and 0 K-complexes" in text
    assert "meets the 20 % criterion for N3" in text


def test_parse_claims_round_trips_make_cot():
    feats = dict(TYPICAL["N2"], eye_movement_count=NAN)
    text = make_cot(feats, "N2", prev_stage="N1", next_stage="N2", prev_features=TYPICAL["N1"])
    claims = {c["type"]: c["value"] for c in parse_claims(text)}
    expected = {k: _as_printed(k, v) for k, v in feats.items() if k not in ("rms_uv", "eye_movement_count")}
    expected.update({f"prev_{k}": _as_printed(k, TYPICAL["N1"][k])
                     for k in ("slow_wave_fraction", "alpha_fraction", "spindle_count", "kcomplex_count")})
    expected.update(prev_stage="N1", next_stage="N2", features_stage="N2", rule_stage="N2", eog_absent=None)
    assert claims.keys() == expected.keys()
    for key, value in expected.items():
        assert claims[key] == (pytest.approx(value, abs=1e-12) if isinstance(value, float) else value), key
    # the rules re-derive the same verdict from the parsed claims alone
    parsed = {k: claims.get(k, NAN) for k in feats}
    assert stage_from_features(parsed) == claims["features_stage"]


@pytest.mark.parametrize("absent", [(), ("eye_movement_count",), ("emg_rms_uv",), ("eye_movement_count", "emg_rms_uv")])
def test_each_claim_is_found_once(absent):
    text = make_cot(dict(TYPICAL["REM"], **dict.fromkeys(absent, NAN)), "REM", prev_stage="REM", next_stage="N2",
                    prev_features=TYPICAL["REM"], next_features=TYPICAL["N2"])
    kinds = [c["type"] for c in parse_claims(text)]
    assert len(kinds) == len(set(kinds))


def test_disagreement_is_stated_plainly():
    feats = TYPICAL["N2"]  # spindles and a K-complex: the rules say N2
    text = make_cot(feats, "N1")
    assert stage_from_features(feats) == "N2"
    assert "the measured features alone suggest N2, but the epoch as a whole is staged N1;" in text
    assert parse_stage(text) == "N1"
    claims = {c["type"]: c["value"] for c in parse_claims(text)}
    assert claims["features_stage"] == "N2" and claims["staged_stage"] == "N1"


def test_disagreement_reason_cites_only_given_facts():
    no_eog = dict(TYPICAL["REM"], eye_movement_count=NAN, emg_rms_uv=NAN)
    assert stage_from_features(no_eog) == "N1"
    text = make_cot(no_eog, "REM")
    assert "without an EOG channel the rapid eye movements that define REM cannot be checked" in text
    assert "no EOG channel" in text and "no EMG channel" in text
    text = make_cot(TYPICAL["N1"], "N2", prev_stage="N2")
    assert "a neighbouring epoch is also staged N2" in text
    text = make_cot(TYPICAL["N1"], "N3")
    assert text.endswith("but the epoch as a whole is staged N3; the rules applied to these numbers do not support "
                         "N3, so this epoch is worth checking by eye.\nStage: N3")


@pytest.mark.parametrize("key, value, expected", [
    ("slow_wave_fraction", 0.1996, "N3"),   # printed as 20 %: meets the 20 % rule, and the text says so
    ("slow_wave_fraction", 0.194, "N1"),
    ("alpha_fraction", 0.51, "W"),
    ("alpha_fraction", 0.50, "N1"),         # AASM wants more than half the epoch
    ("kcomplex_count", 1.0, "N2"),
    ("beta_rel", 0.30, "W"),
    ("emg_rms_uv", 25.0, "W"),
])
def test_stage_from_features_rules(key, value, expected):
    feats = dict(TYPICAL["N1"], **{key: value})
    assert stage_from_features(feats) == expected
    text = make_cot(feats, expected)
    assert f"Conclusion: the measured features point to {expected}." in text


def test_rem_needs_low_emg_or_no_emg():
    rem = TYPICAL["REM"]
    assert stage_from_features(dict(rem, emg_rms_uv=1.8)) == "N1"
    assert stage_from_features(dict(rem, emg_rms_uv=NAN)) == "REM"
    assert stage_from_features(dict(rem, emg_rms_uv=NAN, beta_rel=0.4)) == "W"


def test_parse_stage_reads_only_the_final_line():
    assert parse_stage("1. blah\nStage: N2\n\n") == "N2"
    assert parse_stage("Stage: N2\nmore text") is None
    assert parse_stage("Stage: N5") is None
    assert parse_stage("") is None


def test_bad_inputs_raise_value_errors_and_inputs_are_not_mutated():
    feats = dict(TYPICAL["N2"])
    frozen = dict(feats)
    make_cot(feats, "N2", prev_features=feats)
    assert feats == frozen
    with pytest.raises(ValueError, match="stage: got 'S2'"):
        make_cot(feats, "S2")
    with pytest.raises(ValueError, match="prev_stage"):
        make_cot(feats, "N2", prev_stage="R")
    with pytest.raises(ValueError, match=r"features: missing keys \['spindle_count'\]"):
        make_cot({k: v for k, v in feats.items() if k != "spindle_count"}, "N2")
    with pytest.raises(ValueError, match="thresholds: unknown keys"):
        stage_from_features(feats, thresholds={"spindle": 1})


def test_numpy_values_and_nan_are_formatted_consistently():
    feats = {k: np.float32(v) for k, v in TYPICAL["W"].items()}
    feats["amplitude_uv"] = np.float64(NAN)
    text = make_cot(feats, "W")
    assert "peak-to-peak amplitude is n/a uV" in text
    amp = [c for c in parse_claims(text) if c["type"] == "amplitude_uv"][0]["value"]
    assert math.isnan(amp)
    assert make_cot(feats, "W") == text  # deterministic


@pytest.mark.parametrize("stage", STAGES)
def test_rule_step_names_the_first_met_rule_which_is_the_suggested_stage(stage):
    import math

    for feats in (TYPICAL[stage], dict(TYPICAL[stage], emg_rms_uv=math.nan),
                  dict(TYPICAL[stage], eye_movement_count=math.nan, emg_rms_uv=math.nan)):
        text = make_cot(feats, stage)
        rules = [c["value"] for c in parse_claims(text) if c["type"] == "rule_stage"]
        assert rules == [stage_from_features(feats)]  # exactly one rule is met: the first one that holds
        step = next(line for line in text.splitlines() if line.startswith("7. AASM rules in order: "))
        assert step.count(" not met") == step.count(";")  # every rule before the met one is said not to hold


@pytest.mark.parametrize("stage", STAGES)
def test_text_names_no_scorer_expert_or_kept_label(stage):
    """The same words are shown to a user staging a night: no scorer, no expert, no label being kept."""
    for feats in TYPICAL.values():
        for neighbours in ({}, {"prev_stage": stage, "next_stage": "N2"}):
            text = make_cot(feats, stage, **neighbours)
            assert not re.search(r"scorer|expert|label|kept|scored", text, re.IGNORECASE), text


def test_neighbour_stages_are_stated_as_staged_and_parsed():
    text = make_cot(TYPICAL["N2"], "N2", prev_stage="N1", next_stage="N3")
    assert "6. Context: the previous epoch is staged N1 and the next epoch is staged N3." in text
    claims = {c["type"]: c["value"] for c in parse_claims(text)}
    assert claims["prev_stage"] == "N1" and claims["next_stage"] == "N3"
    # the first models' wording is still parsed, so their texts can be checked and reworded
    old = parse_claims("6. Context: the previous epoch was scored REM. the scorer marked W")
    assert [(c["type"], c["value"]) for c in old] == [("prev_stage", "REM"), ("scorer_stage", "W")]

"""Chain-of-Thought labels in a sleep technician's words, built from measured epoch features.

Each 30-s epoch gets one numbered step per AASM criterion, every step citing the measured number with its
unit, then a conclusion and a last line ``Stage: <stage>``::

    from eeg_vlm.reasoning.cot import make_cot
    print(make_cot(features, "N3", prev_stage="N2", next_stage="N3"))

The wording is fixed (phrase templates, numbers rounded the same way every time) so that a parser can check
the claims later: :data:`CLAIM_PATTERNS` maps each claim to a regex whose named groups are claim types,
:func:`parse_claims` extracts them and :func:`parse_stage` reads the final ``Stage:`` line.

:func:`stage_from_features` is the transparent rule set the steps follow. When it disagrees with the stage given
(the expert label in training) the conclusion says so plainly ("the measured features alone suggest N2, but the
epoch as a whole is staged N1; ...") and the last line keeps the stage given; no evidence is invented. The text
never mentions a scorer or an expert: the same words must stay true when the model stages a night itself, where
the stage is the model's own verdict and the neighbours' stages are the night's staged neighbours.

Number formats: fractions and relative powers as whole percent (``34 %``), amplitude in whole uV, chin EMG
RMS in uV with one decimal, counts as integers; a value that could not be measured prints as ``n/a``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "CLAIM_PATTERNS",
    "STAGES",
    "THRESHOLDS",
    "conclusion",
    "format_feature",
    "make_cot",
    "neighbour_sentence",
    "neighbour_stages_clause",
    "parse_claims",
    "parse_stage",
    "plural",
    "stage_from_features",
]

STAGES = ("W", "N1", "N2", "N3", "REM")
THRESHOLDS = MappingProxyType({
    "slow_wave_fraction_n3": 0.20,  # AASM: N3 when >= 20 % of the epoch is slow waves (0.5-2 Hz, >= 75 uV)
    "alpha_fraction_wake": 0.50,  # AASM: W when alpha rhythm covers > 50 % of the epoch
    "rem_min_eye_movements": 1,  # AASM: REM needs rapid eye movements; one is enough for a definite REM epoch
    # chin EMG thresholds on the Sleep-EDFx 1-Hz EMG envelope scale (simulator medians: W 3.4, N1 2.1, N2 1.5,
    # N3 1.3, REM 0.75 uV): below 1 uV reads as REM atonia, above 2.5 uV as waking tone
    "emg_low_uv": 1.0,
    "emg_high_uv": 2.5,
    "beta_rel_wake": 0.25,  # beta (16-30 Hz) share of 0.5-30 Hz power this high without alpha: eyes-open wake
})
_EEG_KEYS = ("delta_rel", "theta_rel", "alpha_rel", "sigma_rel", "beta_rel", "amplitude_uv", "slow_wave_fraction",
             "spindle_count", "kcomplex_count", "alpha_fraction", "eye_movement_count", "emg_rms_uv")
_NEIGHBOUR_KEYS = ("slow_wave_fraction", "alpha_fraction", "spindle_count", "kcomplex_count")

_NUM = r"\d+|n/a"
_STAGE = r"W|N1|N2|N3|REM"
CLAIM_PATTERNS = MappingProxyType({
    "alpha_fraction": re.compile(rf"alpha \(8-12 Hz\) dominates (?P<alpha_fraction>{_NUM}) % of the epoch"),
    "alpha_rel": re.compile(rf"alpha carries (?P<alpha_rel>{_NUM}) % of the 0\.5-30 Hz power"),
    "theta_rel": re.compile(rf"theta \(4-8 Hz\) (?P<theta_rel>{_NUM}) %"),
    "beta_rel": re.compile(rf"beta \(16-30 Hz\) (?P<beta_rel>{_NUM}) %"),
    "amplitude_uv": re.compile(rf"peak-to-peak amplitude is (?P<amplitude_uv>{_NUM}) uV"),
    "slow_wave_fraction": re.compile(rf"slow waves cover (?P<slow_wave_fraction>{_NUM}) % of the epoch"),
    "delta_rel": re.compile(rf"delta \(0\.5-4 Hz\) carries (?P<delta_rel>{_NUM}) % of the power"),
    "spindle_count": re.compile(rf"detected (?P<spindle_count>{_NUM}) sleep spindles?"),
    "kcomplex_count": re.compile(rf"sleep spindles? \(11-16 Hz, 0\.5-2 s\) and (?P<kcomplex_count>{_NUM}) K-complex"),
    "sigma_rel": re.compile(rf"sigma \(11-16 Hz\) carries (?P<sigma_rel>{_NUM}) % of the power"),
    "eye_movement_count": re.compile(rf"(?P<eye_movement_count>{_NUM}) rapid eye movements? on the EOG"),
    "eog_absent": re.compile(r"(?P<eog_absent>no EOG channel)"),
    "emg_rms_uv": re.compile(r"chin EMG RMS is (?P<emg_rms_uv>\d+\.\d|n/a) uV"),
    "emg_absent": re.compile(r"(?P<emg_absent>no EMG channel)"),
    # "was scored": the wording of the first models' labels, still parsed so that their texts can be checked
    "prev_stage": re.compile(rf"previous epoch (?:is staged|was scored) (?P<prev_stage>{_STAGE})\b"),
    "next_stage": re.compile(rf"next epoch (?:is staged|was scored) (?P<next_stage>{_STAGE})\b"),
    **{f"{side}_features": re.compile(
        rf"In the {word} epoch, slow waves covered (?P<{side}_slow_wave_fraction>{_NUM}) % and alpha "
        rf"(?P<{side}_alpha_fraction>{_NUM}) %, with (?P<{side}_spindle_count>{_NUM}) spindles? and "
        rf"(?P<{side}_kcomplex_count>{_NUM}) K-complex(?:es)?\.")
       for side, word in (("prev", "previous"), ("next", "next"))},
    "features_stage": re.compile(rf"measured features (?:alone suggest|point to) (?P<features_stage>{_STAGE})\b"),
    "rule_stage": re.compile(rf"(?P<rule_stage>{_STAGE}) \([^()]*\) met\b"),
    "staged_stage": re.compile(rf"the epoch as a whole is staged (?P<staged_stage>{_STAGE})\b"),
    "scorer_stage": re.compile(rf"the scorer marked (?P<scorer_stage>{_STAGE})\b"),  # first models' wording
})
_STAGE_LINE = re.compile(rf"^Stage: ({_STAGE})$")
_PERCENT_SUFFIXES = ("_fraction", "_rel")


def _value(features: Mapping, key: str) -> float:
    v = features.get(key)
    return math.nan if v is None else float(v)


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{round(100.0 * x):d}"


def _int(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{round(x):d}"


def _uv1(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.1f}"


def format_feature(key: str, x: float) -> str:
    """Format a feature (fractions, uV, counts) exactly as the Chain-of-Thought prints it."""
    if key.endswith(_PERCENT_SUFFIXES):
        return _pct(x)
    if key == "emg_rms_uv":
        return _uv1(x)
    return _int(x)


def _quantise(f: dict) -> dict:
    """Features rounded as printed, so that the rules and the text see the same numbers.

    ``stage_from_features`` on these values equals ``stage_from_features`` on the claims parsed back from the
    text, so a checker can re-derive the suggested stage from the Chain-of-Thought alone.
    """
    return {k: _convert(k, format_feature(k, v)) for k, v in f.items()}


def plural(x: float, one: str, many: str) -> str:
    """``one`` when ``x`` rounds to 1, else ``many``."""
    return one if not math.isnan(x) and round(x) == 1 else many


def _check_features(features, name: str, keys) -> dict:
    if not isinstance(features, Mapping):
        raise ValueError(f"{name}: got {type(features).__name__}; expected a dict of measured features "
                         "(see EEGVLMFeatureExtractor.measure).")
    missing = [k for k in keys if k not in features]
    if missing:
        raise ValueError(f"{name}: missing keys {missing}; expected the measurement schema "
                         "(EEGVLMFeatureExtractor.measure output), which has all of them.")
    try:
        return {k: _value(features, k) for k in keys}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: values must be numbers (NaN when not measurable); got {dict(features)!r}.") from exc


def _check_stage(stage, name: str, *, optional: bool = False):
    if stage is None and optional:
        return None
    if stage not in STAGES:
        raise ValueError(f"{name}: got {stage!r}; expected one of {STAGES}" + (" or None." if optional else "."))
    return stage


def _thresholds(thresholds: Mapping | None) -> dict:
    merged = dict(THRESHOLDS)
    if thresholds is not None:
        unknown = sorted(set(thresholds) - set(THRESHOLDS))
        if unknown:
            raise ValueError(f"thresholds: unknown keys {unknown}; expected some of {sorted(THRESHOLDS)}.")
        merged.update(thresholds)
    return merged


def stage_from_features(features: Mapping, *, thresholds: Mapping | None = None) -> str:
    """The stage the measured features point to, by transparent AASM-style rules applied in order.

    1. slow waves >= 20 % of the epoch -> N3
    2. alpha dominates > 50 % of the epoch -> W
    3. at least one sleep spindle or K-complex -> N2
    4. rapid eye movements with low chin EMG (< 5 uV), or with no EMG channel and no beta-dominated
       background -> REM
    5. high chin EMG (> 15 uV) or beta >= 25 % of the 0.5-30 Hz power -> W
    6. otherwise (low-amplitude mixed frequency, no N2/N3/REM signs) -> N1

    The rules compare the features rounded as the Chain-of-Thought prints them (whole percent, whole counts,
    EMG to 0.1 uV), so the printed numbers and the verdict always agree. Comparisons with NaN are false, so
    an unmeasurable feature never triggers its rule.

    Parameters
    ----------
    features : dict
        Output of ``EEGVLMFeatureExtractor.measure`` (relative powers as fractions, amplitudes in uV).
    thresholds : dict, optional
        Overrides for :data:`THRESHOLDS`.

    Returns
    -------
    str
        One of ``STAGES``.
    """
    f = _quantise(_check_features(features, "features", _EEG_KEYS))
    return next(stage for stage, met in _rule_checks(f, _thresholds(thresholds)) if met)


def _rule_checks(f: dict, t: dict) -> list[tuple[str, bool]]:
    """Each rule of :func:`stage_from_features` in order with whether it is met (the last, N1, always is)."""
    eyes = f["eye_movement_count"] >= t["rem_min_eye_movements"]
    atonia = f["emg_rms_uv"] < t["emg_low_uv"] or (math.isnan(f["emg_rms_uv"])
                                                   and not f["beta_rel"] >= t["beta_rel_wake"])
    return [
        ("N3", f["slow_wave_fraction"] >= t["slow_wave_fraction_n3"]),
        ("W", f["alpha_fraction"] > t["alpha_fraction_wake"]),
        ("N2", f["spindle_count"] >= 1 or f["kcomplex_count"] >= 1),
        ("REM", bool(eyes and atonia)),
        ("W", f["emg_rms_uv"] > t["emg_high_uv"] or f["beta_rel"] >= t["beta_rel_wake"]),
        ("N1", True),
    ]


def _background(f: dict, t: dict) -> str:
    text = (f"1. Background rhythm: alpha (8-12 Hz) dominates {_pct(f['alpha_fraction'])} % of the epoch; "
            f"alpha carries {_pct(f['alpha_rel'])} % of the 0.5-30 Hz power, theta (4-8 Hz) "
            f"{_pct(f['theta_rel'])} % and beta (16-30 Hz) {_pct(f['beta_rel'])} %; the peak-to-peak "
            f"amplitude is {_int(f['amplitude_uv'])} uV. ")
    wake_pct = _pct(t["alpha_fraction_wake"])
    if f["alpha_fraction"] > t["alpha_fraction_wake"]:
        return text + f"Alpha over more than {wake_pct} % of the epoch is the background of relaxed wakefulness."
    if f["beta_rel"] >= t["beta_rel_wake"]:
        return text + (f"Alpha stays under {wake_pct} % of the epoch, but fast beta activity carries a large share "
                       "of the power, as with eyes-open wakefulness.")
    if f["theta_rel"] > f["alpha_rel"]:
        return text + (f"Alpha stays under {wake_pct} % of the epoch and theta outweighs it: the alpha rhythm "
                       "has given way to a sleep background.")
    return text + f"Alpha stays under {wake_pct} % of the epoch, so the wake criterion is not met."


def _slow_waves(f: dict, t: dict) -> str:
    thr = _pct(t["slow_wave_fraction_n3"])
    met = f["slow_wave_fraction"] >= t["slow_wave_fraction_n3"]
    verdict = (f"which meets the {thr} % criterion for N3" if met else
               f"which is below the {thr} % criterion for N3")
    return (f"2. Slow waves: slow waves cover {_pct(f['slow_wave_fraction'])} % of the epoch (0.5-2 Hz waves of "
            f"at least 75 uV peak-to-peak), {verdict}; delta (0.5-4 Hz) carries {_pct(f['delta_rel'])} % of the "
            "power.")


def _spindles(f: dict) -> str:
    sp, kc = f["spindle_count"], f["kcomplex_count"]
    text = (f"3. Spindles and K-complexes: detected {_int(sp)} {plural(sp, 'sleep spindle', 'sleep spindles')} "
            f"(11-16 Hz, 0.5-2 s) and {_int(kc)} {plural(kc, 'K-complex', 'K-complexes')}; sigma (11-16 Hz) "
            f"carries {_pct(f['sigma_rel'])} % of the power. ")
    if sp >= 1 or kc >= 1:
        return text + "These are the hallmarks of stage N2."
    return text + "Without them this epoch shows no sign of N2 on its own."


def _eye_movements(f: dict, t: dict) -> str:
    em = f["eye_movement_count"]
    if math.isnan(em):
        return "4. Eye movements: no EOG channel, so rapid eye movements cannot be assessed."
    text = (f"4. Eye movements: {_int(em)} {plural(em, 'rapid eye movement', 'rapid eye movements')} on the "
            "EOG. ")
    if em >= t["rem_min_eye_movements"]:
        return text + "Rapid eye movements occur in REM sleep and in eyes-open wakefulness."
    return text + "Without rapid eye movements the EOG gives no sign of REM sleep."


def _muscle(f: dict, t: dict) -> str:
    emg = f["emg_rms_uv"]
    if math.isnan(emg):
        return "5. Muscle tone: no EMG channel, so chin muscle tone cannot be assessed."
    text = f"5. Muscle tone: chin EMG RMS is {_uv1(emg)} uV, "
    if emg < t["emg_low_uv"]:
        return text + f"low (below {_uv1(t['emg_low_uv'])} uV), consistent with the atonia of REM sleep."
    if emg > t["emg_high_uv"]:
        return text + f"high (above {_uv1(t['emg_high_uv'])} uV), consistent with wakefulness."
    return text + "intermediate, as in non-REM sleep."


def neighbour_sentence(word: str, g: Mapping) -> str:
    """The sentence citing a neighbouring epoch's slow waves, alpha, spindles and K-complexes."""
    return (f"In the {word} epoch, slow waves covered {_pct(g['slow_wave_fraction'])} % and alpha "
            f"{_pct(g['alpha_fraction'])} %, with {_int(g['spindle_count'])} "
            f"{plural(g['spindle_count'], 'spindle', 'spindles')} and {_int(g['kcomplex_count'])} "
            f"{plural(g['kcomplex_count'], 'K-complex', 'K-complexes')}.")


def neighbour_stages_clause(prev_stage: str | None, next_stage: str | None) -> str | None:
    """``the previous epoch is staged X and the next epoch is staged Y`` (either part alone), None when neither."""
    parts = []
    if prev_stage is not None:
        parts.append(f"the previous epoch is staged {prev_stage}")
    if next_stage is not None:
        parts.append(f"the next epoch is staged {next_stage}")
    return " and ".join(parts) if parts else None


def _context(prev_stage, next_stage, prev_f, next_f) -> str:
    clause = neighbour_stages_clause(prev_stage, next_stage)
    if clause is not None:
        text = f"6. Context: {clause}."
    elif prev_f is None and next_f is None:
        return "6. Context: no neighbouring epochs are given, so this epoch is judged on its own."
    else:
        text = "6. Context: the neighbouring stages are not given."
    if prev_f is not None:
        text += " " + neighbour_sentence("previous", prev_f)
    if next_f is not None:
        text += " " + neighbour_sentence("next", next_f)
    return text


def _rules(f: dict, t: dict) -> str:
    """Step 7: the rules of :func:`stage_from_features` in their order, each marked met / not met up to the first
    met one, so the stage the features point to follows from one line of the text."""
    sw, alpha, beta = _pct(t["slow_wave_fraction_n3"]), _pct(t["alpha_fraction_wake"]), _pct(t["beta_rel_wake"])
    if math.isnan(f["eye_movement_count"]):
        rem = "REM (rapid eye movements, not assessable without EOG)"
    elif math.isnan(f["emg_rms_uv"]):
        rem = f"REM (rapid eye movements and beta under {beta} %, chin EMG not recorded)"
    else:
        rem = f"REM (rapid eye movements with chin EMG below {_uv1(t['emg_low_uv'])} uV)"
    names = [f"N3 (slow waves at least {sw} % of the epoch)", f"W (alpha over more than {alpha} % of the epoch)",
             "N2 (a sleep spindle or K-complex)", rem,
             f"W (chin EMG above {_uv1(t['emg_high_uv'])} uV or beta at least {beta} %)", "N1 (none of the above)"]
    parts = []
    for name, (_, met) in zip(names, _rule_checks(f, t)):
        parts.append(f"{name} {'met' if met else 'not met'}")
        if met:
            break
    return "7. AASM rules in order: " + "; ".join(parts) + "."


def conclusion(suggested: str, stage: str, *, eog_absent: bool = False, prev_stage: str | None = None,
               next_stage: str | None = None) -> str:
    """The verdict line: the stage the rules give (``suggested``) and the stage given, with a plain reason when
    they differ. It names no scorer: in training ``stage`` is the expert label, at inference the model's."""
    if suggested == stage:
        return f"Conclusion: the measured features point to {stage}."
    if stage == "REM" and eog_absent:
        reason = "without an EOG channel the rapid eye movements that define REM cannot be checked here"
    elif stage in (prev_stage, next_stage):
        reason = (f"a neighbouring epoch is also staged {stage}, and sleep stages tend to continue from one epoch "
                  "to the next")
    else:
        reason = f"the rules applied to these numbers do not support {stage}, so this epoch is worth checking by eye"
    return (f"Conclusion: the measured features alone suggest {suggested}, but the epoch as a whole is staged "
            f"{stage}; {reason}.")


def make_cot(features: Mapping, stage: str, *, prev_stage: str | None = None, next_stage: str | None = None,
             prev_features: Mapping | None = None, next_features: Mapping | None = None,
             thresholds: Mapping | None = None) -> str:
    """Write the Chain-of-Thought for one 30-s epoch.

    Parameters
    ----------
    features : dict
        Measured features of the epoch (``EEGVLMFeatureExtractor.measure``; NaN EOG/EMG values mean no channel).
    stage : str
        The epoch's stage (the expert label in training), one of ``STAGES``; it is the last line,
        ``Stage: <stage>``.
    prev_stage, next_stage : str, optional
        Stages of the neighbouring epochs (expert labels in training, the night's staged stages at inference).
    prev_features, next_features : dict, optional
        Measured features of the neighbouring epochs.
    thresholds : dict, optional
        Overrides for :data:`THRESHOLDS` (the same ones :func:`stage_from_features` uses).

    Returns
    -------
    str
        Seven numbered steps (the last one applies the rules of :func:`stage_from_features` in order), a
        conclusion line and ``Stage: <stage>``, separated by newlines.
    """
    f = _quantise(_check_features(features, "features", _EEG_KEYS))
    stage = _check_stage(stage, "stage")
    prev_stage = _check_stage(prev_stage, "prev_stage", optional=True)
    next_stage = _check_stage(next_stage, "next_stage", optional=True)
    prev_f = None if prev_features is None else _check_features(prev_features, "prev_features", _NEIGHBOUR_KEYS)
    next_f = None if next_features is None else _check_features(next_features, "next_features", _NEIGHBOUR_KEYS)
    prev_f = None if prev_f is None else _quantise(prev_f)
    next_f = None if next_f is None else _quantise(next_f)
    t = _thresholds(thresholds)
    suggested = stage_from_features(f, thresholds=t)
    lines = [
        _background(f, t),
        _slow_waves(f, t),
        _spindles(f),
        _eye_movements(f, t),
        _muscle(f, t),
        _context(prev_stage, next_stage, prev_f, next_f),
        _rules(f, t),
        conclusion(suggested, stage, eog_absent=math.isnan(f["eye_movement_count"]), prev_stage=prev_stage,
                   next_stage=next_stage),
        f"Stage: {stage}",
    ]
    return "\n".join(lines)


def _convert(kind: str, raw: str):
    if kind.endswith(("_stage",)):
        return raw
    if kind in ("eog_absent", "emg_absent"):
        return None
    if raw == "n/a":
        return math.nan
    value = float(raw)
    return value / 100.0 if kind.endswith(_PERCENT_SUFFIXES) else value


def parse_claims(text: str) -> list[dict]:
    """Extract the measured claims of a Chain-of-Thought written by :func:`make_cot`.

    Parameters
    ----------
    text : str
        A Chain-of-Thought (e.g. generated by the model).

    Returns
    -------
    list of dict
        ``{"type": claim type, "value": value, "text": matched phrase}`` in text order. Values are in feature
        units: fractions for ``*_fraction`` / ``*_rel`` (the percent divided by 100), uV, counts as floats,
        stage labels as str, None for ``eog_absent`` / ``emg_absent``, NaN for ``n/a``.
    """
    if not isinstance(text, str):
        raise ValueError(f"text: got {type(text).__name__}; expected the Chain-of-Thought string.")
    found = []
    for pattern in CLAIM_PATTERNS.values():
        for m in pattern.finditer(text):
            for kind, raw in m.groupdict().items():
                if raw is not None:
                    found.append((m.start(kind), {"type": kind, "value": _convert(kind, raw), "text": m.group(0)}))
    found.sort(key=lambda item: item[0])
    return [claim for _, claim in found]


def parse_stage(text: str) -> str | None:
    """The label on the final ``Stage: <label>`` line, or None when the last non-empty line is not one."""
    if not isinstance(text, str):
        raise ValueError(f"text: got {type(text).__name__}; expected the Chain-of-Thought string.")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    m = _STAGE_LINE.match(lines[-1])
    return m.group(1) if m else None

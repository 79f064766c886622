"""A generated Chain-of-Thought made true of the night it explains: the model's verdict, the staged neighbours.

    from eeg_vlm.reasoning.explanation import night_explanation
    text = night_explanation(generated, "REM", prev_stage="N2", next_stage="N2")

The language model was trained on labels written for expert-scored epochs; left alone, it can speak of "the scorer"
and "the expert label", end on a stage other than the one the night is staged with, and cite neighbour stages it
read off the image. ``stage_night`` passes every generated text through :func:`night_explanation`, which keeps the
model's steps 1-5 and 7 (the measurements and the rule it names, which ``eeg_vlm.reasoning.faithfulness`` still
checks) and rewrites only what the night itself decides:

- step 6 cites the night's staged neighbours (``the previous epoch is staged N2``);
- the conclusion applies the AASM rules (``cot.stage_from_features``) to the numbers the text states and says
  plainly when they give another stage than the staged one;
- the last line is ``Stage: <the staged stage>``;
- no sentence names a scorer, an expert or a kept label.
"""

from __future__ import annotations

import math
import re

from .cot import STAGES, conclusion, neighbour_stages_clause, parse_claims, stage_from_features
from .faithfulness import EEG_KEYS, SCORER_WORDING

UNSCORABLE = "UNS"
_CONTEXT = re.compile(r"^(6\. Context: )(.*?\.)(?=\s+In the (?:previous|next) epoch,|\s*$)(.*)$")
_SENTENCE_END = re.compile(r"(?<=[.;])\s+")  # a sentence or clause ends at ". " / "; " (not inside "0.5")


def _stage_or_none(stage):
    return stage if stage in STAGES else None  # UNS (flat or gap) and the recording's ends are not cited


def _stated_rule_stage(text: str) -> str | None:
    """The stage the AASM rules give for the numbers the text states (None when it states none)."""
    stated = {c["type"]: c["value"] for c in parse_claims(text)}
    if not any(k in stated for k in EEG_KEYS):
        return None
    evidence = {k: stated.get(k, math.nan) for k in EEG_KEYS}
    if "eog_absent" in stated:
        evidence["eye_movement_count"] = math.nan
    if "emg_absent" in stated:
        evidence["emg_rms_uv"] = math.nan
    return stage_from_features(evidence)


def _context_line(line: str, prev_stage, next_stage) -> str:
    m = _CONTEXT.match(line)
    if not m:
        return line
    clause = neighbour_stages_clause(prev_stage, next_stage)
    if clause:
        first = f"{clause}."
    elif m.group(3).strip():
        first = "the neighbouring stages are not given."
    else:
        first = "no neighbouring epochs are given, so this epoch is judged on its own."
    return f"{m.group(1)}{first}{m.group(3)}"


def _without_scorer_wording(line: str) -> str:
    """``line`` without the sentences that speak of a scorer, an expert or a kept label."""
    return " ".join(s for s in _SENTENCE_END.split(line) if not SCORER_WORDING.search(s)).strip()


def night_explanation(text: str, stage: str, *, prev_stage: str | None = None,
                      next_stage: str | None = None) -> str:
    """The generated Chain-of-Thought of one epoch, made to speak for the staged night.

    Parameters
    ----------
    text : str
        The generated Chain-of-Thought.
    stage : str
        The stage the night gives this epoch (one of W, N1, N2, N3, REM, or ``UNS`` for an unscorable epoch).
    prev_stage, next_stage : str, optional
        The staged neighbouring epochs (None, or ``UNS``, where there is none to cite).

    Returns
    -------
    str
        Steps 1-7 as generated except step 6's neighbour stages, then a conclusion from the stated numbers and
        ``Stage: <stage>``.
    """
    if not isinstance(text, str):
        raise ValueError(f"text: received {type(text).__name__}, expected the generated Chain-of-Thought string.")
    if stage not in (*STAGES, UNSCORABLE):
        raise ValueError(f"stage: received {stage!r}, expected one of {(*STAGES, UNSCORABLE)}.")
    prev_stage, next_stage = _stage_or_none(prev_stage), _stage_or_none(next_stage)
    lines = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line or line.startswith(("Conclusion:", "Stage:")):
            continue
        line = _without_scorer_wording(_context_line(line, prev_stage, next_stage))
        if line:
            lines.append(line)
    body = "\n".join(lines)
    if stage == UNSCORABLE:
        lines.append("Conclusion: this epoch is flat or filled over a gap in the signal, so it is left unscored.")
        return "\n".join([*lines, f"Stage: {UNSCORABLE}"])
    suggested = _stated_rule_stage(body)
    if suggested is None:
        lines.append(f"Conclusion: the text states no measurement to apply the rules to; the epoch as a whole is "
                     f"staged {stage}.")
    else:
        eog_absent = any(c["type"] == "eog_absent" for c in parse_claims(body))
        lines.append(conclusion(suggested, stage, eog_absent=eog_absent, prev_stage=prev_stage,
                                next_stage=next_stage))
    return "\n".join([*lines, f"Stage: {stage}"])


__all__ = ["night_explanation"]

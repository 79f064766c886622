"""Choose the EEG channel of a night: name normalisation and a documented preference list.

EEG-VLM stages from one EEG derivation. Recordings name their channels in many ways
(``"EEG Fpz-Cz"``, ``"C4:M1"``, ``"EEG C3-REF"``, ``"cz-a1"``), so names are compared after
:func:`normalise_channel_name`, and the default channel is the first one matching
:data:`EEG_PREFERENCE`.

Example
-------
>>> from eeg_vlm.io import pick_eeg_channel
>>> pick_eeg_channel(["EOG horizontal", "EEG Pz-Oz", "EEG Fpz-Cz"])
2
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

logger = logging.getLogger(__name__)

__all__ = [
    "EEG_PREFERENCE",
    "normalise_channel_name",
    "looks_like_eeg",
    "pick_eeg_channel",
]

#: Default EEG derivations, best first (normalised names, see :func:`normalise_channel_name`).
#:
#: Order and reasons:
#:
#: 1. ``FPZ-CZ``: the main EEG of Sleep-EDFx, the montage the model is trained on.
#: 2. ``FZ-CZ``: the AASM "acceptable" frontal-central bipolar derivation, closest to Fpz-Cz.
#: 3. ``C4-M1``, ``C3-M2``: the AASM recommended central derivations (and its backup); spindles and
#:    K-complexes are largest centrally. Contralateral mastoid before ipsilateral.
#: 4. ``CZ-M1``/``CZ-M2`` and ipsilateral ``C4-M2``/``C3-M1``: still central, smaller amplitude.
#: 5. ``F4-M1``, ``F3-M2``: AASM recommended frontal derivations (slow waves largest frontally).
#: 6. ``CZ``, ``FZ``, ``C4``, ``C3``: single-electrode labels, referenced to the amplifier's common
#:    reference, which the file usually does not state: usable but less predictable.
#: 7. ``PZ-OZ`` (the second Sleep-EDFx EEG), ``CZ-OZ``, ``O2-M1``, ``O1-M2``: posterior derivations,
#:    where alpha is largest but spindles and slow waves are weaker: the last resort.
#:
#: Earlobe references ``A1``/``A2`` (older systems, e.g. the DREAMS databases' ``C3-A1``,
#: ``CZ-A1``) are treated as the mastoids ``M1``/``M2`` (same side, same role as the AASM reference)
#: **only** when matching this list: ``C4-A1`` matches the ``C4-M1`` entry. An explicit
#: ``channel=`` name is matched exactly (after normalisation).
EEG_PREFERENCE: tuple[str, ...] = (
    "FPZ-CZ",
    "FZ-CZ",
    "C4-M1",
    "C3-M2",
    "CZ-M1",
    "CZ-M2",
    "C4-M2",
    "C3-M1",
    "F4-M1",
    "F3-M2",
    "CZ",
    "FZ",
    "C4",
    "C3",
    "PZ-OZ",
    "CZ-OZ",
    "O2-M1",
    "O1-M2",
)

# Words that mark a channel as *not* EEG (eye, muscle, heart, breathing, oximetry, position,
# markers...). Matched as whole tokens of the upper-cased name, or as prefixes for the first few.
_NON_EEG_TOKENS = frozenset(
    """EOG EMG ECG EKG RESP RESPIRATION SPO2 SAO2 SPO SAT PLETH PULSE HR HEART THOR THORAX
    THORACIC ABD ABDO ABDOMEN ABDOMINAL CHEST FLOW AIRFLOW NASAL ORAL NAF PTAF CANNULA PRES
    PRESSURE CPAP SNORE SOUND MIC POS POSITION BODY LEG LEGS LAT RAT TIB CHIN SUBMENTAL TEMP
    THERM THERMISTOR LIGHT LUX EVENT EVENTS MARKER STATUS TRIGGER TRIG ANNOTATIONS ANNOTATION
    DC SUM PPG PHOTIC ACC ACTIVITY EYE LOC ROC E1 E2 PH CO2 ETCO2 TCCO2 HYPNOGRAM RR""".split()
)
# International 10-20 / 10-10 electrode names and references (after normalisation).
_ELECTRODE = re.compile(
    r"^(FP[12Z]|AF[3-8Z]|F[1-9Z]|F10|FT[7-9]|FT10|FC[1-6Z]|C[1-6Z]|T[3-8]|T9|T10|TP[7-9]|TP10|"
    r"CP[1-6Z]|P[1-9Z]|P10|PO[3-8Z]|O[12Z]|IZ|M[12]|A[12])$"
)
_REFERENCES = frozenset({"M1", "M2", "A1", "A2"})


def normalise_channel_name(name: str) -> str:
    """Return a canonical form of a channel name for comparison.

    Upper-cases; drops a leading ``EEG`` word; turns ``:`` and ``/`` into ``-`` (``C4:M1`` ->
    ``C4-M1``); removes spaces and the padding dots of PhysioNet files (``Cz..`` -> ``CZ``); drops
    a trailing common-reference marker ``-REF`` / ``-Ref`` /
    ``-AVG`` / ``-LE`` (``EEG CZ-REF`` -> ``CZ``). Earlobe (``A1``/``A2``) and mastoid
    (``M1``/``M2``) references are *not* merged here (see :data:`EEG_PREFERENCE`).

    Parameters
    ----------
    name : str
        Channel label as stored in the file, e.g. ``"EEG Fpz-Cz"``.

    Returns
    -------
    str
        e.g. ``"FPZ-CZ"``.
    """
    text = str(name).strip().upper()
    text = re.sub(r"^EEG(?=[\s:_-]|$)[\s:_-]*", "", text)  # "EEG Fpz-Cz", "EEG:C3", "EEG_C3"
    text = text.replace(":", "-").replace("/", "-").replace("_", "-")
    text = re.sub(r"\s+", "", text)
    text = text.strip(".")  # padding dots of PhysioNet EDFs: "Cz..", "C3..", "Fpz."
    text = re.sub(r"-+", "-", text).strip("-")
    text = re.sub(r"-(REF|AVG|AV|LE|CAR)$", "", text)  # common-reference suffixes
    return text


def _mastoid_form(normalised: str) -> str:
    """Map earlobe references to mastoids (``C4-A1`` -> ``C4-M1``) for preference matching."""
    parts = normalised.split("-")
    return "-".join({"A1": "M1", "A2": "M2"}.get(p, p) for p in parts)


def looks_like_eeg(name: str) -> bool:
    """Whether a channel label looks like an EEG derivation.

    True when the label starts with ``EEG`` and names no eye/muscle/heart/respiration signal,
    or when every part of the (normalised) derivation is a 10-20/10-10 electrode name with at
    least one scalp electrode (``C3-A2``, ``Cz``, ``F4-M1``; not ``M1-M2``).

    Parameters
    ----------
    name : str
        Channel label as stored in the file.

    Returns
    -------
    bool
    """
    upper = str(name).strip().upper()
    tokens = set(re.split(r"[^A-Z0-9]+", upper)) - {""}
    if tokens & _NON_EEG_TOKENS or any(t.startswith(("EOG", "EMG", "ECG", "EKG")) for t in tokens):
        return False
    if re.match(r"^EEG(?![A-Z])", upper):
        return True
    parts = normalise_channel_name(name).split("-")
    if not parts or not all(_ELECTRODE.match(p) for p in parts):
        return False
    return any(p not in _REFERENCES for p in parts)


def pick_eeg_channel(channel_names: Sequence[str], *, channel: str | int | None = None) -> int:
    """Index of the EEG channel to stage from.

    Parameters
    ----------
    channel_names : sequence of str
        Labels of the available channels, in file order.
    channel : str, int or None
        ``None`` (default): the first channel matching :data:`EEG_PREFERENCE` (earlobe
        references count as mastoids), else the first channel that :func:`looks_like_eeg`.
        A name: that channel, compared after :func:`normalise_channel_name` (case, spaces,
        ``EEG`` prefix, ``-REF`` suffix and ``:`` are ignored). An int: that row index.

    Returns
    -------
    int
        Index into ``channel_names``.

    Raises
    ------
    ValueError
        When the asked channel is absent (the message lists the available ones), or when no
        channel looks like EEG (e.g. only EOG/EMG).
    """
    names = [str(n) for n in channel_names]
    available = ", ".join(repr(n) for n in names) or "none"
    if channel is not None and not isinstance(channel, str):
        if isinstance(channel, bool) or not isinstance(channel, int):
            raise ValueError(
                f"channel: expected a channel name (str) or a row index (int), got "
                f"{type(channel).__name__} {channel!r}. Available channels: {available}."
            )
        if not 0 <= channel < len(names):
            raise ValueError(
                f"channel: index {channel} is out of range for {len(names)} channel(s) "
                f"({available}); pass an index from 0 to {len(names) - 1} or a name."
            )
        return channel
    normalised = [normalise_channel_name(n) for n in names]
    if channel is not None:
        wanted = normalise_channel_name(channel)
        if wanted in normalised:
            return normalised.index(wanted)
        similar = [n for n, m in zip(names, normalised) if _mastoid_form(m) == _mastoid_form(wanted)]
        hint = f" Did you mean {similar[0]!r}?" if similar else ""
        raise ValueError(
            f"channel: no channel named {channel!r} in this recording.{hint} Available channels: "
            f"{available}. Pass one of them as channel= (CLI: --channel NAME), or leave channel "
            f"unset to pick the first EEG channel automatically."
        )
    mastoid = [_mastoid_form(m) for m in normalised]
    for preferred in EEG_PREFERENCE:
        if preferred in mastoid:
            return mastoid.index(preferred)
    for index, name in enumerate(names):
        if looks_like_eeg(name):
            logger.warning(
                "No channel matches the preferred EEG derivations (%s); using %r. Pass channel= "
                "to choose another.", ", ".join(EEG_PREFERENCE[:4]) + ", ...", name
            )
            return index
    raise ValueError(
        f"channel_names: no EEG channel found among {available} (EOG, EMG, ECG, respiration and "
        f"similar channels cannot be staged). Expected a label such as 'EEG Fpz-Cz', 'C4-M1' or "
        f"'Cz'. If one of these channels is EEG under another name, pass it explicitly with "
        f"channel='NAME' (CLI: --channel NAME)."
    )

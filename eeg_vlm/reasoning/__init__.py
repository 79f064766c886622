"""The Chain-of-Thought knowledge: the AASM rules, the text they write, grounding, and the checks of a generated text.

- ``cot``: the transparent AASM rule set (``THRESHOLDS``, ``stage_from_features``) and the Chain-of-Thought written
  from an epoch's measured features (``make_cot``), with the parsers of its claims (``parse_claims``,
  ``parse_stage``);
- ``grounding``: the prompt that states the measured features in the text's own phrases (``grounded_prompt``);
- ``faithfulness``: every checkable claim of a text against the measured epoch (``check_claims``);
- ``explanation``: a generated text made true of the night it explains (``night_explanation``).

The features they read are ``EEGVLMFeatureExtractor.measure`` output (``eeg_vlm.feature_extraction_eeg_vlm``). The
old import paths (``eeg_vlm.dataset_builder.cot``, ``eeg_vlm.grounding``, ``eeg_vlm.faithfulness``,
``eeg_vlm.explanation``) still work: they are these very modules.
"""

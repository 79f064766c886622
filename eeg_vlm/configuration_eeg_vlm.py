"""EEG-VLM configuration: a CLIP vision tower + a visual enhancement module + any causal LM.

Build a tiny model to try it::

    python -c "from eeg_vlm import EEGVLMConfig; print(EEGVLMConfig())"

This file is part of the Hub remote-code unit: it imports only installed libraries.
"""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

STAGE_LABELS = ["W", "N1", "N2", "N3", "REM"]
ALIGNMENT_MODES = ("cross_attention", "add", "concat", "none")
ENHANCEMENT_SOURCES = ("vision", "cnn")
CNN_MODEL_TYPES = ("resnet", "convnext")
NIGHT_INPUTS = ("both", "features", "image")
NIGHT_ENCODERS = ("gru", "transformer")


class EEGVLMConfig(PreTrainedConfig):
    r"""
    Configuration of an EEG-VLM model (LLaVA-style composite).

    Parameters
    ----------
    vision_config : dict or CLIPVisionConfig
        The CLIP vision tower. Default: a CLIP ViT-L/14 at 336 px, as in LLaVA-1.5.
    text_config : dict or PreTrainedConfig
        Any causal-LM config from transformers (Llama, Qwen2, GPT-2, SmolLM...). A dict needs a ``model_type``;
        default ``"qwen2"``.
    cnn_config : dict or ResNetConfig or ConvNextConfig, optional
        The CNN side path that feeds the enhancement module when ``enhancement_source="cnn"`` (the paper's
        ResNet-18/ConvNeXt design, trained end to end here).
    enhancement_source : {"vision", "cnn"}
        Where the high-level tokens come from. ``"vision"`` (default) reads the CLIP tower's own intermediate
        layers: no extra weights besides the enhancement module.
    enhancement_layers : list of int, optional
        CLIP layers (indices into ``hidden_states``, 0 = embeddings) the enhancement module reads. Default ``None``
        picks layers at 1/4, 1/2 and 3/4 of the tower depth, so it adapts to any tower size.
    num_high_level_tokens : int
        K learned queries, hence K high-level visual tokens. Default 8: a few semantic summaries (rhythm, slow
        waves, transients...) next to hundreds of patch tokens.
    enhancement_num_heads : int, optional
        Attention heads of the enhancement and alignment cross-attention. Default: the vision tower's head count.
    alignment_mode : {"cross_attention", "add", "concat", "none"}
        How high-level tokens meet the low-level CLIP patch tokens. ``"cross_attention"`` (default): patch tokens
        attend to the high-level tokens (residual); the LM sees K high-level tokens then N fused patch tokens.
        ``"add"``: the paper's recipe: the high-level tokens and the CLIP tokens go through the shared projector,
        the (mean) high-level token is added to every CLIP token, and the LM sees the N plain CLIP tokens followed by
        the N enhanced ones. ``"concat"``: K high-level tokens then N plain CLIP tokens. ``"none"``: plain LLaVA.
    alignment_loss_weight : float
        Weight of the auxiliary contrastive loss between the two levels of one image. Default 0.1, small so that
        it shapes the features without dominating the language loss.
    alignment_temperature : float
        Temperature of that contrastive loss. Default 0.07 (CLIP's initial value).
    stage_loss_weight : float
        Weight of the stage-head cross-entropy in the total loss. Default 1.0.
    vision_feature_layer : int
        CLIP layer whose patch tokens are the low-level features. Default -2 (LLaVA-1.5).
    projector_hidden_act : str
        Activation of the 2-layer MLP projector. Default ``"gelu"``.
    image_token_id : int
        Id of the ``<image>`` placeholder token in the LM vocabulary.
    stage_labels : list of str
        Class names of the stage head, in logit order. Default ``["W", "N1", "N2", "N3", "REM"]``.
    stage_answer_token_ids : list of list of int, optional
        One token-id sequence per stage: the tokenization of ``"Stage: <label>"``. When set, a training forward
        given ``labels`` but no ``stage_labels`` reads each row's stage from the last ``Stage:`` line of its
        answer, so trainers that know nothing of the stage head (TRL's ``trl sft``) still train it. Default
        ``None``: no stage loss without ``stage_labels`` (models saved before this option load unchanged).
        ``EEGVLMProcessor.stage_answer_token_ids()`` computes it.
    night_encoder : {None, "gru", "transformer"}
        The night-level stage model (``EEGVLMNightEncoder``): each epoch's pooled fused visual tokens and measured
        features -> a bidirectional sequence encoder over the night -> per-epoch stage logits. Default ``None``:
        no night model (models saved before this option load unchanged); ``"gru"`` is what the embedded model uses
        (a bidirectional GRU: cheap on a CPU, and any night length).
    night_hidden_size : int
        Width of the epoch vectors and of each GRU direction. Default 64: a night is a few hundred to a thousand
        epochs and the labels are five stages; a wider encoder over-fits the 20 real nights.
    night_num_layers : int
        Layers of the sequence encoder. Default 2.
    night_feature_names : list of str, optional
        The measured features the night model reads, in order (names of ``EEGVLMFeatureExtractor.feature_names``).
        Default ``None``: images only.
    night_window, night_window_overlap : int
        At inference a night longer than ``night_window`` epochs is read in windows that share
        ``night_window_overlap`` epochs, blended where they overlap. Defaults 240 (2 h) and 60 (30 min): longer
        than any sleep cycle, and the same context the model sees in training.
    night_dropout : float
        Dropout of the night model. Default 0.1.
    night_feature_scale : bool
        Also give the night model each feature centred on the night's median and divided by its robust spread over
        the night (interquartile range / 1.349), as YASA's per-night z-scores do: a montage that changes how far
        stages sit apart then reads the same. Default False (models saved before this option load unchanged).
    night_inputs : str
        What the night model reads at inference: ``"both"`` (default: each epoch's pooled visual tokens and its
        features), ``"features"`` or ``"image"`` (it was trained with modality dropout, so either alone works).
        The embedded model says ``"features"``: its visual side has seen simulated EEG only, and on a night unlike
        its training nights (the bundled sample, from an older simulator) the image moves the night model's kappa
        from 0.881 (features) to 0.640 (both); on held-out training-like nights it adds nothing (0.836 with it,
        0.851 without; README, night-level staging).
    """

    model_type = "eeg_vlm"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="clip_vision_model"),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="qwen2"),
        "cnn_config": SubConfigSpec(config_class=AutoConfig, model_type="resnet", optional=True),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    cnn_config: dict | PreTrainedConfig | None = None
    enhancement_source: str = "vision"
    enhancement_layers: list[int] | None = None
    num_high_level_tokens: int = 8
    enhancement_num_heads: int | None = None
    alignment_mode: str = "cross_attention"
    alignment_loss_weight: float = 0.1
    alignment_temperature: float = 0.07
    stage_loss_weight: float = 1.0
    vision_feature_layer: int = -2
    projector_hidden_act: str = "gelu"
    image_token_id: int = 0
    stage_labels: list[str] | None = None
    stage_answer_token_ids: list[list[int]] | None = None
    tie_word_embeddings: bool = False
    night_encoder: str | None = None
    night_hidden_size: int = 64
    night_num_layers: int = 2
    night_feature_names: list[str] | None = None
    night_window: int = 240
    night_window_overlap: int = 60
    night_dropout: float = 0.1
    night_inputs: str = "both"
    night_feature_scale: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.stage_labels is None:
            self.stage_labels = list(STAGE_LABELS)
        self.stage_labels = list(self.stage_labels)
        if self.stage_answer_token_ids is not None:
            ids = [list(map(int, seq)) for seq in self.stage_answer_token_ids]
            if len(ids) != len(self.stage_labels) or not all(ids):
                raise ValueError(
                    f"stage_answer_token_ids: received {len(ids)} sequences, expected one non-empty token-id sequence "
                    f"per stage label {self.stage_labels} (the tokenization of 'Stage: <label>'). Compute it with "
                    "EEGVLMProcessor.stage_answer_token_ids()."
                )
            self.stage_answer_token_ids = ids
        if self.alignment_mode not in ALIGNMENT_MODES:
            raise ValueError(
                f"alignment_mode: received {self.alignment_mode!r}, expected one of {ALIGNMENT_MODES}. "
                'Use "cross_attention" (default), "add" (the paper\'s recipe), "concat" or "none" (plain LLaVA).'
            )
        if self.enhancement_source not in ENHANCEMENT_SOURCES:
            raise ValueError(
                f"enhancement_source: received {self.enhancement_source!r}, expected one of {ENHANCEMENT_SOURCES}."
            )
        if self.enhancement_source == "cnn":
            if self.cnn_config is None:
                raise ValueError(
                    'enhancement_source="cnn" needs cnn_config: pass e.g. cnn_config={"model_type": "resnet", ...} '
                    "or a transformers ResNetConfig/ConvNextConfig."
                )
            if self.cnn_config.model_type not in CNN_MODEL_TYPES:
                raise ValueError(
                    f"cnn_config: received model_type {self.cnn_config.model_type!r}, expected one of "
                    f"{CNN_MODEL_TYPES}. Pass a ResNetConfig or ConvNextConfig."
                )
        self._check_night()
        n_layers = self.vision_config.num_hidden_layers
        if self.enhancement_layers is None:
            # 1/4, 1/2, 3/4 of the depth: mid-level layers carry the semantic summaries (hidden_states[0] = embeddings)
            self.enhancement_layers = sorted({max(1, round(n_layers * f)) for f in (0.25, 0.5, 0.75)})
        self.enhancement_layers = [int(i) for i in self.enhancement_layers]
        for layer in self.enhancement_layers:
            if not -(n_layers + 1) <= layer <= n_layers:
                raise ValueError(
                    f"enhancement_layers: received layer {layer}, expected indices in [-{n_layers + 1}, {n_layers}] "
                    f"for a vision tower with {n_layers} layers (0 = the patch embeddings)."
                )
        if self.num_high_level_tokens < 1:
            raise ValueError(
                f"num_high_level_tokens: received {self.num_high_level_tokens}, expected an integer >= 1."
            )
        heads = self.enhancement_num_heads or self.vision_config.num_attention_heads
        if self.vision_config.hidden_size % heads:
            raise ValueError(
                f"enhancement_num_heads: received {heads}, expected a divisor of the vision hidden size "
                f"{self.vision_config.hidden_size}."
            )
        self.enhancement_num_heads = heads
        if not self.tie_word_embeddings and getattr(self.text_config, "tie_word_embeddings", False):
            # as LLaVA: the flag lives in the text config of most LMs (e.g. Qwen2.5-0.5B ties its embeddings)
            self.tie_word_embeddings = True

    def _check_night(self) -> None:
        if self.night_encoder is not None and self.night_encoder not in NIGHT_ENCODERS:
            raise ValueError(f"night_encoder: received {self.night_encoder!r}, expected None or one of "
                             f"{NIGHT_ENCODERS} (\"gru\" for the embedded model's night-level staging).")
        if self.night_feature_names is not None:
            self.night_feature_names = [str(n) for n in self.night_feature_names]
        for name in ("night_hidden_size", "night_num_layers", "night_window"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: received {getattr(self, name)!r}, expected an integer >= 1.")
        if not 0 <= self.night_window_overlap < self.night_window:
            raise ValueError(f"night_window_overlap: received {self.night_window_overlap}, expected 0 <= overlap < "
                             f"night_window ({self.night_window}); e.g. a quarter of the window.")
        if not 0.0 <= self.night_dropout < 1.0:
            raise ValueError(f"night_dropout: received {self.night_dropout}, expected a probability in [0, 1).")
        if self.night_inputs not in NIGHT_INPUTS:
            raise ValueError(f"night_inputs: received {self.night_inputs!r}, expected one of {NIGHT_INPUTS} (what the "
                             "night model reads; \"both\" unless one modality is known to mislead it).")

    @property
    def num_patches(self) -> int:
        """Number of CLIP patch tokens N (without CLS)."""
        return (self.vision_config.image_size // self.vision_config.patch_size) ** 2

    @property
    def num_visual_tokens(self) -> int:
        """Number of ``<image>`` placeholders one image expands into, for the configured alignment mode."""
        n, k = self.num_patches, self.num_high_level_tokens
        return {"none": n, "add": 2 * n, "concat": k + n, "cross_attention": k + n}[self.alignment_mode]

    @property
    def num_stages(self) -> int:
        return len(self.stage_labels)


__all__ = ["EEGVLMConfig", "STAGE_LABELS"]

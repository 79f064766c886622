"""EEG-VLM model: CLIP tower -> visual enhancement -> multi-level alignment -> projector -> causal LM (+ stage head).

One image (a rendered 30-s EEG epoch) becomes N low-level CLIP patch tokens and K high-level tokens built by
learned queries from intermediate layers; the two levels are fused (``config.alignment_mode``), projected into the
LM's embedding space and scattered into the expanded ``<image>`` placeholders. The LM writes the stage-wise
Chain-of-Thought; a stage head gives fast per-epoch probabilities from the fused visual tokens.

Try it on a tiny random model::

    python -m pytest tests/test_modeling.py -q

This file is part of the Hub remote-code unit: it imports only installed libraries and ``.configuration_eeg_vlm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.generation import GenerationMixin
from transformers.utils import ModelOutput
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import can_return_tuple
from transformers.utils.import_utils import torch_compilable_check

from .configuration_eeg_vlm import EEGVLMConfig
from .modeling_night_eeg_vlm import EEGVLMNightEncoder

# LoRA's default targets (PEFT `target_modules` when none is given, e.g. `trl sft --use_peft`): the attention of the
# language model only. The CLIP tower has q/k/v projections too, hence the regex.
DEFAULT_LORA_TARGET_MODULES = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|c_attn|c_proj)$"


def _register_peft_default_targets() -> None:
    """Tell PEFT (when installed) our default LoRA targets, as it knows them for the model types it lists; an entry
    already there (the user's own) is kept."""
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping
    except ImportError:
        return
    mapping.setdefault(EEGVLMConfig.model_type, DEFAULT_LORA_TARGET_MODULES)


_register_peft_default_targets()


@dataclass
class EEGVLMModelOutputWithPast(ModelOutput):
    """Base-model output: LM hidden states plus the visual side (stage logits, alignment loss)."""

    last_hidden_state: torch.FloatTensor | None = None
    cache: object | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    image_hidden_states: torch.FloatTensor | None = None  # (B, T_img, D_text) projected visual tokens
    stage_logits: torch.FloatTensor | None = None  # (B, n_stages)
    alignment_loss: torch.FloatTensor | None = None  # scalar
    image_outputs: ModelOutput | None = None  # the vision tower's own output (hidden states, attentions, pooled)
    aux_loss: torch.FloatTensor | None = None  # weighted stage + alignment loss whose gradient the backbone added


@dataclass
class EEGVLMCausalLMOutputWithPast(ModelOutput):
    """Output of :class:`EEGVLMForConditionalGeneration`; ``loss`` = LM + weighted stage + weighted alignment."""

    loss: torch.FloatTensor | None = None
    lm_loss: torch.FloatTensor | None = None
    stage_loss: torch.FloatTensor | None = None
    alignment_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None  # (B, T, V)
    stage_logits: torch.FloatTensor | None = None  # (B, n_stages)
    cache: object | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    image_hidden_states: torch.FloatTensor | None = None
    image_outputs: ModelOutput | None = None


def stage_labels_from_answer(labels: torch.LongTensor, stage_answer_token_ids: list[list[int]]) -> torch.LongTensor:
    """Stage index of each row read off the last ``Stage: <label>`` in its supervised tokens; -100 where none.

    Parameters
    ----------
    labels : (B, T) token ids, -100 where ignored (the prompt, image placeholders and padding).
    stage_answer_token_ids : one token-id sequence per stage, the tokenization of ``"Stage: <label>"``
        (``config.stage_answer_token_ids``; byte-level BPE tokenizes it the same inside an answer).
    """
    b, t = labels.shape
    best_end = torch.full((b,), -1, dtype=torch.long, device=labels.device)  # end of the last match so far
    best_len = torch.zeros((b,), dtype=torch.long, device=labels.device)
    stage = torch.full((b,), -100, dtype=torch.long, device=labels.device)
    for index, ids in enumerate(stage_answer_token_ids):
        n = len(ids)
        if n == 0 or n > t:
            continue
        pattern = torch.tensor(ids, dtype=labels.dtype, device=labels.device)
        hits = (labels.unfold(1, n, 1) == pattern).all(-1)  # (B, T-n+1): a match starting there
        ends = torch.where(hits, torch.arange(n - 1, t, device=labels.device), -1).amax(-1)  # (B,) last match end
        # the latest match wins; at the same end, the longer sequence ("Stage: N1" over a bare "Stage: N")
        better = (ends > best_end) | ((ends == best_end) & (ends >= 0) & (n > best_len))
        stage = torch.where(better, index, stage)
        best_len = torch.where(better, n, best_len)
        best_end = torch.where(better, ends, best_end)
    return stage


def masked_stage_loss(stage_logits: torch.Tensor, stage_labels: torch.LongTensor) -> torch.Tensor:
    """Stage cross-entropy averaged over the rows with a stage (label != -100); 0 when none has one, still in the
    graph, so that DDP without ``find_unused_parameters`` sees the stage head used at every step."""
    stage_labels = stage_labels.to(stage_logits.device)
    valid = stage_labels != -100
    per_row = F.cross_entropy(stage_logits.float(), stage_labels.clamp(min=0), reduction="none")  # (B,)
    return (per_row * valid).sum() / valid.sum().clamp(min=1)


class AddAuxiliaryLoss(torch.autograd.Function):
    """Identity on ``hidden``; in backward, gives ``aux_loss`` the gradient 1, as if it were added to the final loss.

    The pattern of DeepSeek's MoE gate: a trainer that builds the loss from the LM backbone alone (TRL's fused LM
    head runs ``model.model`` and the head, never our forward) still trains what only ``aux_loss`` reaches.
    """

    @staticmethod
    def forward(ctx, hidden, aux_loss):
        ctx.dtype, ctx.device = aux_loss.dtype, aux_loss.device
        return hidden

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, torch.ones((), dtype=ctx.dtype, device=ctx.device)


class EEGVLMMultiheadAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` (same parameters, same state-dict keys, ``batch_first``) whose output projection
    takes effect when an adapter wraps it.

    torch's own forward reads ``out_proj.weight`` directly, so a LoRA that PEFT puts on ``out_proj``
    (``--lora_target_modules all-linear``) would never be applied nor trained. While ``out_proj`` is a plain
    ``nn.Linear`` the forward is torch's own (bit for bit as before); once it is wrapped, the attention is computed
    here and ``out_proj`` is called as a module.
    """

    def forward(self, query, key, value, need_weights=False, **kwargs):
        if isinstance(self.out_proj, nn.Linear) or need_weights or kwargs:
            return super().forward(query, key, value, need_weights=need_weights, **kwargs)
        b, t_q, d = query.shape
        h = self.num_heads
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None, None, None)
        q = F.linear(query, w_q, b_q).view(b, t_q, h, d // h).transpose(1, 2)  # (B, h, Tq, d/h)
        k = F.linear(key, w_k, b_k).view(b, key.shape[1], h, d // h).transpose(1, 2)  # (B, h, Tk, d/h)
        v = F.linear(value, w_v, b_v).view(b, value.shape[1], h, d // h).transpose(1, 2)  # (B, h, Tk, d/h)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, t_q, d)), None  # (B, Tq, D)


class EEGVLMEnhancement(nn.Module):
    """Visual enhancement: K learned queries cross-attend over intermediate-layer tokens -> K high-level tokens."""

    def __init__(self, config: EEGVLMConfig, source_dims: list[int]):
        super().__init__()
        d = config.vision_config.hidden_size
        self.queries = nn.Parameter(torch.zeros(config.num_high_level_tokens, d))  # (K, D)
        self.source_embed = nn.Parameter(torch.zeros(len(source_dims), d))  # tells tokens of each layer apart
        # CNN stages have their own widths; CLIP layers are already D wide
        self.source_proj = nn.ModuleList(nn.Linear(c, d) if c != d else nn.Identity() for c in source_dims)
        self.norm_kv = nn.LayerNorm(d)
        self.norm_q = nn.LayerNorm(d)
        self.attn = EEGVLMMultiheadAttention(d, config.enhancement_num_heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, sources: list[torch.Tensor]) -> torch.Tensor:
        tokens = [proj(x) + emb for proj, x, emb in zip(self.source_proj, sources, self.source_embed)]
        kv = self.norm_kv(torch.cat(tokens, dim=1))  # (B, sum T_l, D)
        q = self.queries.unsqueeze(0).expand(kv.shape[0], -1, -1)  # (B, K, D)
        high = q + self.attn(self.norm_q(q), kv, kv, need_weights=False)[0]  # (B, K, D)
        return high + self.mlp(high)  # (B, K, D)


class EEGVLMAlignment(nn.Module):
    """Cross-attention fusion: low-level patch tokens attend to the high-level tokens (residual)."""

    def __init__(self, config: EEGVLMConfig):
        super().__init__()
        d = config.vision_config.hidden_size
        self.norm_q = nn.LayerNorm(d)
        self.norm_kv = nn.LayerNorm(d)
        self.attn = EEGVLMMultiheadAttention(d, config.enhancement_num_heads, batch_first=True)

    def forward(self, patches: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(high)  # (B, K, D)
        return patches + self.attn(self.norm_q(patches), kv, kv, need_weights=False)[0]  # (B, N, D)


def multilevel_alignment_loss(high: torch.Tensor, low: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between the pooled levels of each image, plus (1 - cosine) of the matched pair.

    The cosine term keeps the loss informative for a batch of one image, where InfoNCE is constant.
    """
    a = F.normalize(high.mean(1).float(), dim=-1)  # (B, D)
    b = F.normalize(low.mean(1).float(), dim=-1)  # (B, D)
    logits = a @ b.T / temperature  # (B, B)
    target = torch.arange(a.shape[0], device=a.device)
    nce = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    return nce + (1 - (a * b).sum(-1)).mean()


class EEGVLMProjector(nn.Module):
    """2-layer MLP from the vision width to the LM width (LLaVA-1.5)."""

    def __init__(self, config: EEGVLMConfig):
        super().__init__()
        d_v, d_t = config.vision_config.hidden_size, config.text_config.hidden_size
        self.linear_1 = nn.Linear(d_v, d_t)
        self.act = ACT2FN[config.projector_hidden_act]
        self.linear_2 = nn.Linear(d_t, d_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class EEGVLMStageHead(nn.Module):
    """Per-epoch stage logits from the mean of the fused visual tokens (vision width)."""

    def __init__(self, config: EEGVLMConfig):
        super().__init__()
        d = config.vision_config.hidden_size
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, d)
        self.act = nn.GELU()
        self.out = nn.Linear(d, config.num_stages)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.norm(tokens.mean(1))  # (B, D)
        return self.out(self.act(self.fc(x)))  # (B, n_stages)


class EEGVLMPreTrainedModel(PreTrainedModel):
    config_class = EEGVLMConfig
    config: EEGVLMConfig
    base_model_prefix = "model"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _no_split_modules = []

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """``PreTrainedModel.from_pretrained``; loading makes every weight trainable again, so the parameters no
        output depends on are frozen once more (:meth:`EEGVLMModel.freeze_unused`)."""
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True gives a tuple
        for module in model.modules():
            if isinstance(module, EEGVLMModel):
                module.freeze_unused()
        return loaded

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, EEGVLMEnhancement):
            init.normal_(module.queries, mean=0.0, std=0.02)
            init.zeros_(module.source_embed)


class EEGVLMModel(EEGVLMPreTrainedModel):
    """Vision tower, enhancement, alignment, projector, stage head and the LM backbone (no LM head)."""

    def __init__(self, config: EEGVLMConfig):
        super().__init__(config)
        self.vision_tower = AutoModel.from_config(config.vision_config)
        self.freeze_unused()
        n_layers = config.vision_config.num_hidden_layers
        if config.alignment_mode != "none":
            if config.enhancement_source == "cnn":
                self.cnn = AutoModel.from_config(config.cnn_config)
                source_dims = list(config.cnn_config.hidden_sizes)
            else:
                source_dims = [config.vision_config.hidden_size] * len(config.enhancement_layers)
            self.enhancement = EEGVLMEnhancement(config, source_dims)
            if config.alignment_mode == "cross_attention":
                self.alignment = EEGVLMAlignment(config)
        self._layer_ids = [i % (n_layers + 1) for i in config.enhancement_layers]
        self.projector = EEGVLMProjector(config)
        self.stage_head = EEGVLMStageHead(config)
        self.night_encoder = EEGVLMNightEncoder(config) if config.night_encoder else None
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def freeze_unused(self) -> None:
        """Freeze what no output depends on: CLIP's ``post_layernorm`` only normalises the pooled CLS output, which
        EEG-VLM never reads. DDP without ``find_unused_parameters`` would otherwise wait for its gradient forever."""
        post_norm = getattr(getattr(self.vision_tower, "vision_model", self.vision_tower), "post_layernorm", None)
        if post_norm is not None:
            post_norm.requires_grad_(False)

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    def encode_images(self, pixel_values: torch.Tensor, **kwargs) -> dict[str, torch.Tensor]:
        """Run the visual side only: projected visual tokens, stage logits and the alignment loss.

        Parameters
        ----------
        pixel_values : torch.Tensor
            ``(B, 3, H, W)`` normalised images from :class:`EEGVLMImageProcessor`.
        **kwargs
            Passed to the vision tower (e.g. ``output_attentions=True``).
        """
        cfg = self.config
        dtype = next(self.vision_tower.parameters()).dtype
        pixel_values = pixel_values.to(dtype)
        vis = self.vision_tower(pixel_values, output_hidden_states=True, return_dict=True, **kwargs)
        patches = vis.hidden_states[cfg.vision_feature_layer][:, 1:]  # (B, N, Dv) without CLS
        if cfg.alignment_mode == "none":
            return {
                "image_embeds": self.projector(patches),  # (B, N, Dt)
                "stage_logits": self.stage_head(patches),  # (B, S)
                "pooled_visual": patches.mean(1),  # (B, Dv): what the night encoder reads
                "alignment_loss": None,
                "image_outputs": vis,
            }
        if cfg.enhancement_source == "cnn":
            maps = self.cnn(pixel_values, output_hidden_states=True, return_dict=True).hidden_states[1:]
            sources = [m.flatten(2).transpose(1, 2) for m in maps]  # each (B, H_l*W_l, C_l)
        else:
            sources = [vis.hidden_states[i] for i in self._layer_ids]  # each (B, N+1, Dv)
        high = self.enhancement(sources)  # (B, K, Dv)
        alignment_loss = multilevel_alignment_loss(high, patches, cfg.alignment_temperature)
        if cfg.alignment_mode == "cross_attention":
            fused = torch.cat([high, self.alignment(patches, high)], dim=1)  # (B, K+N, Dv)
            image_embeds = self.projector(fused)  # (B, K+N, Dt)
        elif cfg.alignment_mode == "concat":
            fused = torch.cat([high, patches], dim=1)  # (B, K+N, Dv)
            image_embeds = self.projector(fused)  # (B, K+N, Dt)
        else:  # "add": one shared projector, the high-level token added to every CLIP token
            low = self.projector(patches)  # (B, N, Dt)
            enhanced = low + self.projector(high).mean(1, keepdim=True)  # (B, N, Dt)
            image_embeds = torch.cat([low, enhanced], dim=1)  # (B, 2N, Dt)
            fused = patches + high.mean(1, keepdim=True)  # (B, N, Dv)
        return {
            "image_embeds": image_embeds,
            "stage_logits": self.stage_head(fused),  # (B, S)
            "pooled_visual": fused.mean(1),  # (B, Dv): what the night encoder reads
            "alignment_loss": alignment_loss,
            "image_outputs": vis,
        }

    def get_placeholder_mask(self, input_ids, inputs_embeds, image_embeds) -> torch.Tensor:
        """Boolean mask of the ``<image>`` placeholders; ``ValueError`` when their count != visual tokens."""
        if input_ids is None:
            token = self.get_input_embeddings()(
                torch.tensor(self.config.image_token_id, dtype=torch.long, device=inputs_embeds.device)
            )
            mask = (inputs_embeds == token).all(-1)  # (B, T)
        else:
            mask = input_ids == self.config.image_token_id  # (B, T)
        n_tokens, n_features = mask.sum(), image_embeds.shape[0] * image_embeds.shape[1]
        # a tensor check, not int(): torch.export / torch.compile trace it without a data-dependent guard
        torch_compilable_check(
            n_tokens == n_features,
            lambda: f"input_ids: received {int(n_tokens)} <image> placeholder tokens (id {self.config.image_token_id}), "
            f"expected {n_features} = {image_embeds.shape[0]} image(s) x {image_embeds.shape[1]} visual tokens. "
            "Build the inputs with EEGVLMProcessor, which expands each <image> into the right number of tokens.",
        )
        return mask.unsqueeze(-1).expand_as(inputs_embeds)  # (B, T, D)

    @can_return_tuple  # return_dict=False (argument or config) gives a tuple, as every transformers model
    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")  # the 4.x name most callers still use
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> EEGVLMModelOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("input_ids / inputs_embeds: pass exactly one of them.")
        add_aux_loss = kwargs.pop("add_aux_loss", True)
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)  # (B, T, Dt)
        visual = {"image_embeds": None, "stage_logits": None, "alignment_loss": None, "image_outputs": None}
        if pixel_values is not None:
            vision_kwargs = {k: kwargs[k] for k in ("output_attentions",) if k in kwargs}
            visual = self.encode_images(pixel_values, **vision_kwargs)
            image_embeds = visual["image_embeds"].to(inputs_embeds.device, inputs_embeds.dtype)
            mask = self.get_placeholder_mask(input_ids, inputs_embeds, image_embeds)
            inputs_embeds = inputs_embeds.masked_scatter(mask, image_embeds)  # (B, T, Dt)
        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            return_dict=True,
            **kwargs,
        )
        hidden, aux_loss = outputs.last_hidden_state, None
        if (add_aux_loss and self.training and torch.is_grad_enabled() and input_ids is not None
                and visual["stage_logits"] is not None and self.config.stage_answer_token_ids):
            # Called alone in training (TRL's fused LM head): the answer is in input_ids, so is its "Stage:" line
            seen = input_ids if attention_mask is None else input_ids.masked_fill(attention_mask == 0, -100)
            stage_labels = stage_labels_from_answer(seen, self.config.stage_answer_token_ids)
            aux_loss = self.config.stage_loss_weight * masked_stage_loss(visual["stage_logits"], stage_labels)
            if visual["alignment_loss"] is not None:
                aux_loss = aux_loss + self.config.alignment_loss_weight * visual["alignment_loss"]
            hidden = AddAuxiliaryLoss.apply(hidden, aux_loss)
        return EEGVLMModelOutputWithPast(
            last_hidden_state=hidden,
            cache=getattr(outputs, "cache", None),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            image_hidden_states=visual["image_embeds"],
            stage_logits=visual["stage_logits"],
            alignment_loss=visual["alignment_loss"],
            image_outputs=visual["image_outputs"],
            aux_loss=aux_loss,
        )


class EEGVLMForConditionalGeneration(EEGVLMPreTrainedModel, GenerationMixin):
    """EEG-VLM with the LM head: Chain-of-Thought generation and the weighted multi-task loss."""

    _tied_weights_keys = {}
    # as LLaVA: the head is sharded like the embedding it is tied to (the LM's own plan shards `embed_tokens`)
    _tp_plan = {"lm_head": "colwise_gather_output"}

    def __init__(self, config: EEGVLMConfig):
        super().__init__(config)
        self.model = EEGVLMModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        # the embedding's parameter name differs per LM (embed_tokens, wte...): tie to whatever it is
        emb = self.model.language_model.get_input_embeddings()
        name = next(n for n, m in self.model.language_model.named_modules() if m is emb)
        self._tied_weights_keys = {"lm_head.weight": f"model.language_model.{name}.weight"}
        self.post_init()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def save_pretrained(self, save_directory, *args, **kwargs):
        """``PreTrainedModel.save_pretrained``; a model registered for remote code also lists ``AutoModel`` (the base
        :class:`EEGVLMModel`) in the saved ``auto_map``, so ``AutoModel.from_pretrained(DIR, trust_remote_code=True)``
        works without this package."""
        if self._auto_class is not None:
            base = type(self.model)
            self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}),
                                    "AutoModel": f"{base.__module__.split('.')[-1]}.{base.__name__}"}
        return super().save_pretrained(save_directory, *args, **kwargs)

    @torch.no_grad()
    def classify(self, pixel_values: torch.FloatTensor) -> torch.FloatTensor:
        """Stage probabilities from the stage head alone (no LM pass): ``(B, n_stages)``, rows sum to 1."""
        return self.model.encode_images(pixel_values)["stage_logits"].float().softmax(-1)

    @torch.no_grad()
    def classify_night(self, pixel_values: torch.FloatTensor | None = None, features=None, *,
                       image_embeds: torch.FloatTensor | None = None, batch_size: int = 64) -> torch.FloatTensor:
        """Night-level stage probabilities ``(T, n_stages)`` of one night of ``T`` consecutive 30-s epochs.

        Parameters
        ----------
        pixel_values : torch.FloatTensor, optional
            ``(T, 3, H, W)``: every epoch's rendered image (from :class:`EEGVLMImageProcessor`), in night order.
        features : array_like, optional
            ``(T, F)`` measured features in ``config.night_feature_names`` order (``EEGVLMFeatureExtractor``),
            NaN where not measured. Either modality may be missing (the night model was trained that way), not both.
        image_embeds : torch.FloatTensor, optional
            ``(T, Dv)`` pooled visual tokens already computed (``encode_images(...)["pooled_visual"]``), instead of
            ``pixel_values``.
        batch_size : int
            Images per vision forward pass.

        ``config.night_inputs`` (``"both"``, ``"features"``, ``"image"``) says which of the given inputs the night
        model reads; when only the other modality is given, that one is read.
        """
        enc = self.model.night_encoder
        if enc is None:
            raise ValueError("classify_night: this model has no night-level stage model (config.night_encoder is "
                             "None); use classify() for per-epoch probabilities, or load a model trained with one.")
        inputs = getattr(self.config, "night_inputs", "both")  # what the night model reads (config)
        if inputs == "features" and features is not None:
            pixel_values = image_embeds = None
        elif inputs == "image" and (pixel_values is not None or image_embeds is not None):
            features = None
        if pixel_values is not None and image_embeds is None:
            image_embeds = torch.cat([self.model.encode_images(pixel_values[i : i + batch_size])["pooled_visual"]
                                      for i in range(0, len(pixel_values), batch_size)])  # (T, Dv)
        if features is not None:
            features = torch.as_tensor(features, dtype=torch.float32, device=self.device)[None]  # (1, T, F)
        x = enc.embed(None if image_embeds is None else image_embeds[None], features)  # (1, T, H)
        cfg = self.config
        logits = enc.encode_windows(x, window=cfg.night_window, overlap=cfg.night_window_overlap)  # (1, T, S)
        return logits[0].float().softmax(-1)

    @can_return_tuple
    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        stage_labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> EEGVLMCausalLMOutputWithPast:
        r"""
        labels : (B, T) token ids for the LM loss, -100 where ignored (prompt, image placeholders, padding).
        stage_labels : (B,) stage indices into ``config.stage_labels`` for the stage-head cross-entropy; -100 ignores.
            Default: read from each row's answer, its last ``Stage: <label>`` in ``labels`` (or ``shift_labels``),
            when ``config.stage_answer_token_ids`` is set, so stock trainers (TRL's ``trl sft``) train the head too.
        shift_labels : (B, T) already shifted targets (sequence/context parallelism); used instead of ``labels``.
        num_items_in_batch : number of supervised tokens over the accumulated batch (Trainer), for the LM loss.
        """
        kwargs.pop("fused_lm_head", None)  # TRL's shortcut would drop our extra losses; we always run in full
        loss_kwargs = {k: kwargs.pop(k) for k in ("shift_labels", "num_items_in_batch") if k in kwargs}
        outputs = self.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            return_dict=True,
            add_aux_loss=False,  # the stage and alignment losses are added to `loss` below
            **kwargs,
        )
        hidden = outputs.last_hidden_state  # (B, T, Dt)
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden[:, keep, :])  # (B, T', V)

        lm_loss = stage_loss = None
        targets = labels if labels is not None else loss_kwargs.get("shift_labels")
        if targets is not None:
            # labels are shifted inside (pad, then shift); pre-shifted `shift_labels` are taken as they are
            lm_loss = self.loss_function(logits=logits, labels=labels, vocab_size=logits.shape[-1], **loss_kwargs)
        if stage_labels is None and targets is not None and self.config.stage_answer_token_ids:
            stage_labels = stage_labels_from_answer(targets, self.config.stage_answer_token_ids)
        if outputs.stage_logits is not None and (stage_labels is not None or targets is not None):
            if stage_labels is None:
                stage_labels = torch.full(outputs.stage_logits.shape[:1], -100, dtype=torch.long)
            stage_loss = masked_stage_loss(outputs.stage_logits, stage_labels)
        parts = [
            (lm_loss, 1.0),
            (stage_loss, self.config.stage_loss_weight),
            (outputs.alignment_loss if (targets is not None or stage_labels is not None) else None,
             self.config.alignment_loss_weight),
        ]
        present = [w * loss for loss, w in parts if loss is not None]
        loss = sum(present) if present else None
        return EEGVLMCausalLMOutputWithPast(
            loss=loss,
            lm_loss=lm_loss,
            stage_loss=stage_loss,
            alignment_loss=outputs.alignment_loss,
            logits=logits,
            stage_logits=outputs.stage_logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            image_hidden_states=outputs.image_hidden_states,
            image_outputs=outputs.image_outputs,
        )

    @classmethod
    def from_components(
        cls,
        vision: str | Path = "openai/clip-vit-large-patch14-336",
        text: str | Path = "Qwen/Qwen2.5-0.5B-Instruct",
        *,
        image_token_id: int | None = None,
        dtype: torch.dtype | None = None,
        **options,
    ) -> "EEGVLMForConditionalGeneration":
        """Compose an EEG-VLM from any pretrained CLIP and any pretrained causal LM, loading both towers' weights.

        Parameters
        ----------
        vision : str or Path
            Hub id or local directory of a CLIP model (``CLIPModel`` or ``CLIPVisionModel`` checkpoint).
        text : str or Path
            Hub id or local directory of a causal LM (anything ``AutoModelForCausalLM`` loads).
        image_token_id : int, optional
            Id of the ``<image>`` token. Default: the LM vocabulary size - 1 is *not* guessed; pass the id your
            tokenizer gives ``"<image>"`` (``EEGVLMProcessor.from_components`` adds it and returns it).
        **options
            Any other :class:`EEGVLMConfig` option (``alignment_mode``, ``num_high_level_tokens``...).
        """
        from transformers import CLIPVisionModel

        vision_tower = CLIPVisionModel.from_pretrained(vision, dtype=dtype)
        causal_lm = AutoModelForCausalLM.from_pretrained(text, dtype=dtype)
        text_config = AutoConfig.from_pretrained(text)
        if image_token_id is None:
            raise ValueError(
                "image_token_id: received None, expected the id of the <image> token in the tokenizer. "
                "Add it with tokenizer.add_special_tokens({'additional_special_tokens': ['<image>']}) and pass "
                "tokenizer.convert_tokens_to_ids('<image>')."
            )
        if image_token_id >= text_config.vocab_size:
            causal_lm.resize_token_embeddings(image_token_id + 1)
            text_config.vocab_size = causal_lm.get_input_embeddings().num_embeddings
        config = EEGVLMConfig(
            vision_config=vision_tower.config, text_config=text_config, image_token_id=image_token_id, **options
        )
        model = cls(config)
        model.model.vision_tower.load_state_dict(vision_tower.state_dict())
        model.model.language_model.load_state_dict(causal_lm.base_model.state_dict())
        model.lm_head.load_state_dict(causal_lm.get_output_embeddings().state_dict())
        if dtype is not None:
            model = model.to(dtype)
        return model.eval()  # as from_pretrained: dropout off until a trainer calls .train()


__all__ = [
    "DEFAULT_LORA_TARGET_MODULES",
    "stage_labels_from_answer",
    "EEGVLMPreTrainedModel",
    "EEGVLMModel",
    "EEGVLMForConditionalGeneration",
    "EEGVLMModelOutputWithPast",
    "EEGVLMCausalLMOutputWithPast",
]

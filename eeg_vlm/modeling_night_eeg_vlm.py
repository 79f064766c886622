"""Night-level staging: per-epoch embeddings -> a bidirectional sequence encoder over the night -> stage logits.

Scorers read an epoch with the night around it (AASM continuity rules, sleep-onset context) and with measured
numbers in mind; so do the systems that stage well (U-Sleep, SeqSleepNet, YASA's smoothed features). Each epoch
becomes one vector from two modalities, either of which may be missing:

- the pooled fused visual tokens of its rendered image (the same tokens the per-epoch stage head reads), and
- its measured features (``EEGVLMFeatureExtractor``: the nine Sleep-EDF-20 features of the EEG channel, relative
  band powers, slow waves, spindles, K-complexes, alpha, eye movements, chin EMG...), standardised with the
  training set's mean and SD (buffers saved with the weights), plus the same values centred on the night's median
  (a night-level reference that removes montage and amplitude differences, as YASA's per-night z-scores do) and a
  presence mask (NaN = not measured, e.g. no EOG).

A GRU (default) or a transformer encoder then reads the whole night in windows (``night_window`` epochs with
``night_window_overlap`` shared between neighbours, for nights of any length). Modality dropout in training lets
image-only and features-only inputs both work: real Sleep-EDF-20 nights exist here only as feature sequences.

Try it on a tiny random model::

    python -m pytest tests/test_night_model.py -q

This file is part of the Hub remote-code unit: it imports only installed libraries.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_Z_CLIP = 8.0  # SDs: a standardised feature further out is clipped (e.g. a dead channel's log power)
_MIN_SPREAD = 0.1  # training-set SDs: a night spread below it (a feature nearly constant all night) is not inflated


def _nan_spread(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Robust SD (interquartile range / 1.349) over dim 1 of ``x`` (B, T, F) where ``mask`` holds. (B, 1, F)"""
    vals = torch.where(mask, x, torch.full_like(x, float("nan")))
    q = vals.nanquantile(torch.tensor([0.25, 0.75], dtype=x.dtype, device=x.device), dim=1, keepdim=True)
    return torch.nan_to_num((q[1] - q[0]) / 1.349, nan=0.0).clamp_min(_MIN_SPREAD)


def _nan_median(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Median over dim 1 of ``x`` (B, T, F) where ``mask`` (B, T, F) holds; 0 where nothing holds. (B, 1, F)"""
    vals = torch.where(mask, x, torch.full_like(x, float("nan")))
    med = vals.nanmedian(dim=1, keepdim=True).values  # (B, 1, F)
    return torch.nan_to_num(med, nan=0.0)


class EEGVLMNightEncoder(nn.Module):
    """Per-epoch stage logits from a whole night of epoch embeddings (see the module docstring).

    Parameters
    ----------
    config : EEGVLMConfig
        Reads ``vision_config.hidden_size``, ``night_encoder``, ``night_hidden_size``, ``night_num_layers``,
        ``night_feature_names``, ``night_dropout`` and ``num_stages``.
    """

    def __init__(self, config):
        super().__init__()
        d_img, h = config.vision_config.hidden_size, config.night_hidden_size
        n_feat = len(config.night_feature_names or ())
        self.num_features = n_feat
        self.register_buffer("feature_mean", torch.zeros(n_feat))  # training-set statistics, set by the trainer
        self.register_buffer("feature_std", torch.ones(n_feat))
        self.image_proj = nn.Sequential(nn.LayerNorm(d_img), nn.Linear(d_img, h))
        self.feature_scale = bool(getattr(config, "night_feature_scale", False))
        views = 4 if self.feature_scale else 3  # z, night-centred z, [night-scaled z,] present
        self.feature_proj = nn.Linear(views * n_feat, h) if n_feat else None
        self.missing_image = nn.Parameter(torch.zeros(h))  # stands for an absent modality
        self.missing_features = nn.Parameter(torch.zeros(h))
        self.norm = nn.LayerNorm(h)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(config.night_dropout)
        self.encoder_type = config.night_encoder
        if self.encoder_type == "gru":
            self.encoder = nn.GRU(h, h, num_layers=config.night_num_layers, batch_first=True, bidirectional=True,
                                  dropout=config.night_dropout if config.night_num_layers > 1 else 0.0)
            d_out = 2 * h
        else:
            layer = nn.TransformerEncoderLayer(h, nhead=max(1, h // 32), dim_feedforward=2 * h,
                                               dropout=config.night_dropout, batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, config.night_num_layers, enable_nested_tensor=False)
            d_out = h
        self.out = nn.Linear(d_out, config.num_stages)

    def feature_inputs(self, features: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, F)`` raw features (NaN = not measured) -> ``(B, T, 3F)``: z, night-centred z, presence; with
        ``config.night_feature_scale`` ``(B, T, 4F)``: the night-centred z also divided by its robust spread over the
        night (YASA's per-night z-scores) before the presence.

        The night median is taken over the epochs in ``valid`` (B, T) (all when None), so call this on the whole
        night before cutting it into windows.
        """
        present = torch.isfinite(features)  # (B, T, F)
        z = (torch.nan_to_num(features, nan=0.0) - self.feature_mean) / self.feature_std
        z = torch.where(present, z.clamp(-_Z_CLIP, _Z_CLIP), torch.zeros_like(z))
        counted = present if valid is None else present & valid[..., None]
        off_median = z - _nan_median(z, counted)  # (B, T, F)
        centred = torch.where(present, off_median.clamp(-_Z_CLIP, _Z_CLIP), torch.zeros_like(z))
        views = [z, centred]
        if self.feature_scale:
            scaled = (off_median / _nan_spread(off_median, counted)).clamp(-_Z_CLIP, _Z_CLIP)
            views.append(torch.where(present, scaled, torch.zeros_like(z)))
        return torch.cat([*views, present.to(z.dtype)], dim=-1)

    def embed(self, image_embeds=None, features=None, *, valid=None, image_present=None, features_present=None):
        """One vector per epoch, ``(B, T, H)``.

        Parameters
        ----------
        image_embeds : torch.Tensor, optional
            ``(B, T, Dv)`` pooled fused visual tokens per epoch.
        features : torch.Tensor, optional
            ``(B, T, F)`` raw measured features in ``config.night_feature_names`` order, NaN where not measured.
        valid : torch.Tensor, optional
            ``(B, T)`` bool, False on padding (excluded from the night median).
        image_present, features_present : torch.Tensor, optional
            ``(B,)`` bool per night: False replaces that modality by its learned "missing" vector (modality
            dropout in training; a night without images at inference).
        """
        ref = image_embeds if image_embeds is not None else features
        if ref is None:
            raise ValueError("image_embeds and features: received neither; pass the pooled visual tokens (B, T, D) "
                             "and/or the measured features (B, T, F) of the night's epochs.")
        b, t = ref.shape[:2]
        x = torch.zeros(b, t, self.missing_image.numel(), dtype=self.missing_image.dtype, device=ref.device)

        def gate(vec, present, missing):  # (B, T, H): the modality where present, its "missing" vector elsewhere
            return vec if present is None else torch.where(present.to(vec.device).view(b, 1, 1), vec, missing)

        if image_embeds is not None:
            img = self.image_proj(image_embeds.to(x.dtype))  # (B, T, H)
            x = x + gate(img, image_present, self.missing_image)
        else:
            x = x + self.missing_image
        if features is not None and self.feature_proj is not None:
            if features.shape[-1] != self.num_features:
                raise ValueError(f"features: received {features.shape[-1]} features per epoch, expected "
                                 f"{self.num_features} (config.night_feature_names); compute them with the "
                                 "model's EEGVLMFeatureExtractor.")
            feat = self.feature_proj(self.feature_inputs(features.to(x.dtype), valid))  # (B, T, H)
            x = x + gate(feat, features_present, self.missing_features)
        else:
            x = x + self.missing_features
        return self.dropout(self.act(self.norm(x)))  # (B, T, H)

    def encode(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, H)`` epoch vectors -> ``(B, T, n_stages)`` logits, the whole sequence at once."""
        if self.encoder_type == "gru":
            y, _ = self.encoder(x)  # (B, T, 2H); padding sits at the end and is masked out of the loss
        else:
            y = self.encoder(x + _positions(x), src_key_padding_mask=None if valid is None else ~valid)  # (B, T, H)
        return self.out(self.dropout(y))  # (B, T, S)

    def encode_windows(self, x: torch.Tensor, *, window: int, overlap: int) -> torch.Tensor:
        """Logits of a long night ``(1, T, H)`` read in windows of ``window`` epochs sharing ``overlap``; where two
        windows overlap, their logits are blended with linear weights (each window trusted most in its middle)."""
        t = x.shape[1]
        if t <= window:
            return self.encode(x)
        step = window - overlap
        starts = list(range(0, t - window + 1, step))
        if starts[-1] + window < t:
            starts.append(t - window)
        total = torch.zeros(1, t, self.out.out_features, dtype=x.dtype, device=x.device)
        weight = torch.zeros(1, t, 1, dtype=x.dtype, device=x.device)
        ramp = torch.minimum(torch.arange(1, window + 1), torch.arange(window, 0, -1)).to(x)  # (window,)
        w = ramp.clamp(max=max(overlap, 1)).view(1, window, 1)
        for s in starts:
            total[:, s : s + window] += w * self.encode(x[:, s : s + window])
            weight[:, s : s + window] += w
        return total / weight


def _positions(x: torch.Tensor) -> torch.Tensor:
    """Sinusoidal positions ``(1, T, H)`` for the transformer encoder (relative order is what matters)."""
    t, h = x.shape[1], x.shape[2]
    pos = torch.arange(t, dtype=torch.float32, device=x.device)[:, None]
    div = torch.exp(torch.arange(0, h, 2, dtype=torch.float32, device=x.device) * (-math.log(10000.0) / h))
    pe = torch.zeros(t, h, device=x.device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : h // 2]
    return pe[None].to(x.dtype)


__all__ = ["EEGVLMNightEncoder"]

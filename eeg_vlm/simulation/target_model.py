"""The calibrated per-epoch feature model: what band powers, variance and mobility each simulated epoch gets.

A hierarchical model (in log-power space: log PSD in V^2/Hz, log variance) of the 14 free features (per channel Fpz-Cz and Pz-Oz: five log band PSDs, log variance,
Hjorth mobility; Sleep-EDF-20 definitions), fitted to the real Sleep-EDF-20 nights by
``python -m eeg_vlm.simulation.calibrate``:

    features(epoch) = stage mean + night offset + residual

- stage mean ``mu[s]`` (5, 14);
- night offset: one draw per night from N(0, ``night_scale``^2 * ``night_cov``), the spread of real nights' median
  deviations from the stage means (amplitude scale, electrode and subject differences, per-night band gains);
  one offset for all stages (independent per-stage offsets fitted worse), scaled per stage and feature by
  ``offset_scale`` (a night's level varies less in N3 than in wake: the spread of the nights' stage medians
  over the spread of their overall offsets, at most 1);
- residual: a per-stage Gaussian mixture (``weights``, ``means``, ``chols``: component covariances times
  ``residual_scale``^2) whose component persists from epoch to epoch with probability ``stay[s]`` and whose
  standardised draw follows an AR(1) with coefficient ``ar[s]`` (real nights drift; they do not flicker).

The fitted parameters ship as ``calibrated.npz`` beside this file and are what the generator uses by default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .sleep_edf20 import EPS, STAGES

__all__ = ["FREE_COLUMNS", "TargetModel", "default_path", "load_default"]

FREE_COLUMNS = np.array([0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 16, 17])  # of the 18 features
_LOGS = np.array([True] * 6 + [False] + [True] * 6 + [False])  # which free columns are log(m + 1e-10)
_FLOOR = 1e-20  # V^2/Hz or V^2: a band can be nearly empty, never negative


def to_model_space(free):
    """log(m + 1e-10) columns -> log(m) (natural log of the PSD/variance itself); mobility unchanged.

    The +1e-10 of the definitions swamps small bands (gamma ~1e-13 V^2/Hz reads as -23.025 vs -23.026 for
    nothing at all): fitting there would sample negative powers.
    """
    out = np.array(free, dtype=np.float64)
    out[..., _LOGS] = np.log(np.maximum(np.exp(out[..., _LOGS]) - EPS, _FLOOR))
    return out


def from_model_space(z):
    out = np.array(z, dtype=np.float64)
    out[..., _LOGS] = np.log(np.exp(out[..., _LOGS]) + EPS)
    return out
_DEFAULT = Path(__file__).with_name("calibrated.npz")


def default_path():
    return _DEFAULT


class TargetModel:
    """Per-stage feature model; ``sample(stages, rng)`` gives (n_epochs, 18) targets (columns 5, 6: NaN)."""

    FIELDS = ("mu", "night_cov", "offset_scale", "weights", "means", "chols", "stay", "ar", "night_scale", "residual_scale")

    def __init__(self, **params):
        missing = [k for k in self.FIELDS if k not in params]
        if missing:
            raise ValueError(f"params: missing {missing}; expected every field of TargetModel.FIELDS; "
                             "re-run python -m eeg_vlm.simulation.calibrate")
        self.p = {k: np.asarray(params[k], dtype=np.float64) for k in self.FIELDS}

    # -- fitting ---------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, nights, *, components=4, seed=0):
        """Fit to real nights: dict name -> (features (n, 18), stages (n,)). Needs scikit-learn."""
        from sklearn.covariance import LedoitWolf
        from sklearn.mixture import GaussianMixture

        xs = {k: (to_model_space(x[:, FREE_COLUMNS]), y) for k, (x, y) in nights.items()}
        allx = np.vstack([x for x, _ in xs.values()])
        ally = np.concatenate([y for _, y in xs.values()])
        mu = np.stack([allx[ally == s].mean(axis=0) for s in range(len(STAGES))])
        devs = [x - mu[y] for x, y in xs.values()]
        offsets = np.array([np.median(d, axis=0) for d in devs])  # robust: artefacts do not set a night's level
        scale = np.ones((len(STAGES), len(FREE_COLUMNS)))
        for s in range(len(STAGES)):
            medians = np.array([np.median(d[y == s], axis=0) for d, (_, y) in zip(devs, xs.values())
                                if (y == s).sum() >= 10])
            scale[s] = np.clip(medians.std(axis=0) / (offsets.std(axis=0) + 1e-12), 0.0, 1.0)
        resid = {s: [] for s in range(len(STAGES))}
        runs = {s: [] for s in range(len(STAGES))}
        for d, (_, y), off in zip(devs, xs.values(), offsets):
            for s in range(len(STAGES)):
                resid[s].append(d[y == s] - scale[s] * off)
                runs[s].append(np.flatnonzero((y[1:] == s) & (y[:-1] == s)))  # consecutive same-stage pairs
        sd = offsets.std(axis=0) + 1e-9  # shrink the correlations, not the scales (features differ 1000-fold)
        night_cov = LedoitWolf().fit(offsets / sd).covariance_ * np.outer(sd, sd)
        weights, means, chols, stay, ar = [], [], [], [], []
        p_scale = scale
        for s in range(len(STAGES)):
            r = np.vstack(resid[s])
            gmm = GaussianMixture(components, covariance_type="full", random_state=seed, reg_covar=1e-4).fit(r)
            weights.append(gmm.weights_)
            means.append(gmm.means_)
            chols.append(np.linalg.cholesky(gmm.covariances_))
            # persistence of the mixture component and lag-1 correlation of the within-component draw
            same, corr = [], []
            for (x, y), pairs, off in zip(xs.values(), runs[s], offsets):
                if len(pairs) == 0:
                    continue
                d = x - mu[y] - p_scale[y] * off
                lab = gmm.predict(d[pairs]), gmm.predict(d[pairs + 1])
                same.append(lab[0] == lab[1])
                z0 = (d[pairs] - d[pairs].mean(0)) / (d[pairs].std(0) + 1e-9)
                z1 = (d[pairs + 1] - d[pairs + 1].mean(0)) / (d[pairs + 1].std(0) + 1e-9)
                corr.append((z0 * z1).mean(axis=0))
            stay.append(float(np.mean(np.concatenate(same))) if same else 0.5)
            ar.append(float(np.clip(np.median(np.mean(corr, axis=0)), 0, 0.95)) if corr else 0.0)
        return cls(mu=mu, night_cov=night_cov, offset_scale=scale, weights=np.array(weights), means=np.array(means),
                   chols=np.array(chols), stay=np.array(stay), ar=np.array(ar), night_scale=1.0,
                   residual_scale=1.0)

    # -- use ------------------------------------------------------------------------------------------------
    def with_scales(self, night_scale, residual_scale):
        return TargetModel(**{**self.p, "night_scale": night_scale, "residual_scale": residual_scale})

    def save(self, path):
        """Write the parameters as .npz, atomically."""
        import os

        path = Path(path)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        with open(tmp, "wb") as fh:
            np.savez(fh, **self.p)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path):
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"calibration: got {str(path)!r}, which does not exist; expected a calibrated.npz "
                             "written by python -m eeg_vlm.simulation.calibrate")
        with np.load(path) as data:
            return cls(**{k: data[k] for k in data.files})

    def sample_night_offset(self, rng):
        """(14,) offset of one night, in model space."""
        return rng.multivariate_normal(np.zeros(len(FREE_COLUMNS)), self.p["night_cov"]) * self.p["night_scale"]

    def sample(self, stages, rng, *, night_offset=None):
        """Targets (n_epochs, 18) for AASM stage indices (0-4; -1: no target, row of NaN)."""
        stages = np.asarray(stages)
        p = self.p
        off = self.sample_night_offset(rng) if night_offset is None else night_offset
        out = np.full((len(stages), 18), np.nan)
        comp, z, prev = -1, np.zeros(len(FREE_COLUMNS)), -1
        for i, s in enumerate(stages):
            if s < 0:
                prev = -1
                continue
            if s != prev or rng.random() > p["stay"][s]:
                comp = rng.choice(len(p["weights"][s]), p=p["weights"][s] / p["weights"][s].sum())
            a = p["ar"][s] if s == prev else 0.0
            z = a * z + np.sqrt(1 - a * a) * rng.standard_normal(len(FREE_COLUMNS))
            resid = p["means"][s, comp] + p["residual_scale"] * (p["chols"][s, comp] @ z)
            out[i, FREE_COLUMNS] = p["mu"][s] + p["offset_scale"][s] * off + resid
            prev = s
        out[:, FREE_COLUMNS] = from_model_space(out[:, FREE_COLUMNS])  # NaN rows stay NaN
        return out


def load_default():
    """The shipped calibrated model (None when the package was built without it)."""
    return TargetModel.load(_DEFAULT) if _DEFAULT.is_file() else None

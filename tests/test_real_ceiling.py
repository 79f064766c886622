"""benchmarks/real_ceiling.py: its context columns are the Sleep-EDF-20 feature files' own (real files)."""

import numpy as np
import pytest

from conftest import import_benchmark, shared_data


@pytest.fixture(scope="module")
def ceiling():
    return import_benchmark("real_ceiling")


def test_context_columns_reproduce_the_feature_files_mean_and_sd_columns(ceiling):
    with np.load(shared_data("sleep-edf20-features", "SC4001E0.npz")) as z:
        x = z["X"]
    for block in (0, 1):  # Fpz-Cz, Pz-Oz
        ctx = ceiling.context_columns(x[:, 9 * block : 9 * block + 9])
        assert ctx.shape == (len(x), 27)
        np.testing.assert_array_equal(ctx[:, :9], x[:, 9 * block : 9 * block + 9])
        mean, sd = x[:, 36 + 9 * block : 45 + 9 * block], x[:, 54 + 9 * block : 63 + 9 * block]
        np.testing.assert_allclose(ctx[:, 9:18], mean, rtol=1e-9, atol=1e-12)
        # the files' rows of "?" / movement epochs were dropped after the context was computed: a few rows differ
        assert np.isclose(ctx[:, 18:], sd, rtol=1e-6, atol=1e-9).mean() > 0.995


def test_context_columns_keep_a_not_measured_column_nan(ceiling):
    x = np.random.default_rng(0).normal(size=(10, 9))
    x[:, 3] = np.nan
    ctx = ceiling.context_columns(x)
    assert np.isnan(ctx[:, [3, 12, 21]]).all() and np.isfinite(np.delete(ctx, [3, 12, 21], axis=1)).all()

"""Kendall's tau bootstrap by item counts equals the pairwise form on the resampled arrays."""

import numpy as np

from nas import rank_stats as R


def test_kendall_draws_by_counts_equal_pairwise_on_resamples_with_ties():
    rng = np.random.default_rng(3)
    for n in (2, 7, 40):
        a = rng.integers(0, 4, size=n).astype(float)  # many ties, some resamples all tied
        b = a + rng.integers(0, 3, size=n)
        idx = rng.integers(0, n, size=(300, n))
        old = np.concatenate([R._kendall(a[i], b[i]) for i in R._chunks(idx)])
        new = R._kendall_draws(a, b, idx, rows=64)
        assert np.array_equal(np.isnan(old), np.isnan(new))
        np.testing.assert_allclose(new[~np.isnan(new)], old[~np.isnan(old)], atol=1e-12)
    assert np.isnan(old).sum() < len(old)

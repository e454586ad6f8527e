"""The exactness check every block family's model test runs (tests/test_supernet_model.py,
tests/test_llama_model.py): a subnet of the supernet computes exactly its stand-alone model."""

from __future__ import annotations

import jax
import numpy as np

from search_spaces import params


def assert_subnets_exact(space, supernet_params, x, archs) -> list[np.ndarray]:
    """For each architecture: the supernet's output equals the stand-alone model's on the
    extracted weights (to 1e-5), the extracted weights count exactly ``params(space, arch)``
    and have the stand-alone model's tree and shapes.  Returns the supernet's outputs."""
    from supernet import extract, model, standalone

    geo = model.geometry(space)
    outs = []
    for arch in archs:
        sub = extract(supernet_params, arch, space=space)
        ref = jax.jit(standalone.build(space, arch).apply)(sub, x)
        out = model.apply(supernet_params, x, arch, geo=geo)
        np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)
        assert sum(w.size for w in jax.tree.leaves(sub)) == params(space, arch)
        fresh = jax.eval_shape(lambda arch=arch: standalone.init(space, arch, jax.random.key(2)))
        assert jax.tree.map(np.shape, sub) == jax.tree.map(np.shape, fresh)
        outs.append(np.asarray(out))
    return outs

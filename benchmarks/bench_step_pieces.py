"""Where a supernet step's time goes, for one subnet: CPU ms of the supernet's and the
same-shape standalone model's step, gradient, forward and AdamW update, timed alternately.

    JAX_PLATFORMS=cpu python benchmarks/bench_step_pieces.py SPACE BATCH 'ARCH_JSON'

e.g. ``vit-mnist 128 '{"depth":1,"embed_dim":64,"attn_type":["linear"],"mlp_dim":[192],"num_heads":[1]}'``.
``grad_static_depth`` is the supernet gradient with the layer weights cut to the subnet's
depth before the call (what one compiled program per depth would cost), for comparison
with ``grad`` (the one program per width that training uses).  Prints one line: per
piece (supernet ms, standalone ms, ratio), and the load average.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from bench_supernet_step import _timed_pair, standalone_step  # noqa: E402

from search_spaces import load_space  # noqa: E402
from supernet import data, extract, model, standalone  # noqa: E402
from supernet.config import load_config  # noqa: E402
from supernet.train import StepFns, loss_fn, make_optimizer  # noqa: E402


def main() -> None:
    space, batch = load_space(sys.argv[1]), int(sys.argv[2])
    arch = space.parse(json.loads(sys.argv[3]))
    geo = model.geometry(space)
    tx = make_optimizer(load_config(None, ["steps=100", f"batch_size={batch}"]))
    fns = StepFns(geo, tx)
    params = model.init(space, jax.random.key(0))
    opt = tx.init(params)
    x, y = (jax.device_put(a) for a in data.train_batch(data.load(space), step=0, batch_size=batch, seed=0))
    E, codes = model.encode_arch(geo, arch)
    codes = jnp.asarray(codes)
    sub = extract(params, arch, space=space)["params"]
    sopt = tx.init(sub)
    sstep = standalone_step(space, arch, tx)
    m = standalone.build(space, arch)

    def s_loss(p):
        return optax.softmax_cross_entropy_with_integer_labels(m.apply({"params": p}, x), y).mean()

    def sup_loss(p, depth=None):
        if depth is not None:  # layer weights cut to the subnet's depth: one program per depth
            p = {**p, "layers": jax.tree.map(lambda a: a[:depth], p["layers"])}
            return loss_fn(p, x, y, codes[:depth], None, geo=geo, embed_dim=E)[0]
        return loss_fn(p, x, y, codes, None, geo=geo, embed_dim=E)[0]

    sgrad, sfwd = jax.jit(jax.grad(s_loss)), jax.jit(s_loss)
    supgrad, supfwd = jax.jit(jax.grad(sup_loss)), jax.jit(sup_loss)
    supgrad_d = jax.jit(jax.grad(lambda p: sup_loss(p, arch.depth)))
    g_full, g_sub = supgrad(params), sgrad(sub)
    upd = jax.jit(lambda p, s, g: tx.update(g, s, p))

    def step_with_workspace():  # the training step: its workspace donated and kept, as StepFns.step does
        new_params, _, _, ws = fns.grad_update(
            params, opt, x, y, codes, fns.take_workspace(x, E), geo=geo, embed_dim=E
        )
        fns.put_workspace(x, E, ws)
        return new_params

    pieces = {
        "step": (
            lambda: step_with_workspace(),
            lambda: sstep(sub, sopt, x, y)[0],
        ),
        "grad": (lambda: supgrad(params), lambda: sgrad(sub)),
        "grad_static_depth": (lambda: supgrad_d(params), lambda: sgrad(sub)),
        "fwd": (lambda: supfwd(params), lambda: sfwd(sub)),
        "adamw": (lambda: upd(params, opt, g_full), lambda: upd(sub, sopt, g_sub)),
    }
    out = {}
    for name, (fa, fb) in pieces.items():
        _, _, c1, c2 = _timed_pair(fa, fb, 10)
        out[name] = (round(1e3 * c1, 2), round(1e3 * c2, 2), round(c1 / c2, 3))
    print(arch.short(), json.dumps(out), "load", os.getloadavg()[0])


if __name__ == "__main__":
    main()

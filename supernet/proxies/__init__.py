"""Zero-cost proxies: rank subnets at initialization, without training.

A proxy maps (space, architecture, seed, fixed batches) to one number, higher meaning the
architecture is predicted to train better.  The weights are the supernet's, freshly
initialized with ``PRNGKey(seed)`` and sliced to the subnet by the supernet's own forward
(:mod:`supernet.proxies.probe`); the data are ``batches`` fixed training batches of the
space's task.  Families (one file each; every proxy's docstring cites its paper):

* :mod:`~supernet.proxies.complexity`: ``params``, ``nonembed_params``, ``flops`` (no data);
* :mod:`~supernet.proxies.gradient`: ``grad_norm``, ``snip``, ``synaptic_diversity``,
  ``synaptic_saliency``, ``dss``, ``head_importance`` (one backward pass);
* :mod:`~supernet.proxies.activation`: ``naswot``, ``hidden_covariance``,
  ``head_confidence``, ``head_softmax_confidence`` (the same pass's hidden states);
* :mod:`~supernet.proxies.sensitivity`: ``grasp``, ``synflow``, ``fisher``, ``jacob_cov``
  (their own passes);
* :mod:`~supernet.proxies.ensemble`: ``ensemble``, a rank vote of :data:`ensemble.MEMBERS`
  against a fixed reference sample.

``scorer(space, names, ...)`` returns ``archs -> [{name: value}]``.  The requested data proxies
are one jitted program per embedding width (the per-layer choices are traced codes; the
families share the program, the one-backward-pass family shares its pass), so scoring a
thousand subnets compiles as many programs as the space has embedding widths, not a thousand.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import jax
import numpy as np

from search_spaces import ArchConfig, SearchSpace
from search_spaces.errors import NasError
from supernet.proxies import activation, complexity, ensemble, gradient, sensitivity
from supernet.proxies.probe import Probe, codes_of, loss_and_hidden, make_probe


class Proxy(NamedTuple):
    family: str  # complexity | backprop | grasp | synflow | fisher | jacob_cov | ensemble
    paper: str


PROXIES: dict[str, Proxy] = {
    "params": Proxy("complexity", "parameter count (Krishnakumar et al., NeurIPS 2022, baseline)"),
    "nonembed_params": Proxy("complexity", "Javaheripi et al., NeurIPS 2022 (LiteTransformerSearch)"),
    "flops": Proxy("complexity", "Abdelfattah et al., ICLR 2021 (baseline)"),
    "grad_norm": Proxy("backprop", "Abdelfattah et al., ICLR 2021"),
    "snip": Proxy("backprop", "Lee et al., ICLR 2019"),
    "synaptic_diversity": Proxy("backprop", "Zhou et al., CVPR 2022 (TF-TAS)"),
    "synaptic_saliency": Proxy("backprop", "Zhou et al., CVPR 2022 (TF-TAS)"),
    "dss": Proxy("backprop", "Zhou et al., CVPR 2022 (TF-TAS)"),
    "head_importance": Proxy("backprop", "Michel et al., NeurIPS 2019; Serianni & Kalita, ACL 2023"),
    "naswot": Proxy("backprop", "Mellor et al., ICML 2021"),
    "hidden_covariance": Proxy("backprop", "Serianni & Kalita, ACL 2023"),
    "head_confidence": Proxy("backprop", "Voita et al., ACL 2019; Serianni & Kalita, ACL 2023"),
    "head_softmax_confidence": Proxy("backprop", "Serianni & Kalita, ACL 2023"),
    "grasp": Proxy("grasp", "Wang et al., ICLR 2020"),
    "synflow": Proxy("synflow", "Tanaka et al., NeurIPS 2020"),
    "fisher": Proxy("fisher", "Theis et al., 2018; Turner et al., ICLR 2020"),
    "jacob_cov": Proxy("jacob_cov", "Mellor et al., 2020 (v1 of NASWOT)"),
    "ensemble": Proxy("ensemble", "Abdelfattah et al., ICLR 2021 (vote); rank vote of ensemble.MEMBERS"),
}
# The default set, chosen by the proxy study (experiments/results/proxy_study.md, docs/proxies.md):
# parameter count, and the one data proxy that beat it (paired 95 % interval above 0) on some of
# the trained data and was worse on none.
DEFAULT = ("params", "synaptic_diversity")


def names() -> list[str]:
    return list(PROXIES)


def check_names(requested: Sequence[str], *, where: str = "proxies") -> tuple[str, ...]:
    """The requested proxy names, validated (one line naming an unknown one)."""
    if isinstance(requested, str) or not isinstance(requested, Sequence) or not requested:
        raise NasError(f"field '{where}': expected a non-empty list of proxy names, got {requested!r}")
    for n in requested:
        if n not in PROXIES:
            raise NasError(f"field '{where}': unknown proxy {n!r}; choose from {names()}")
    return tuple(dict.fromkeys(requested))


def _program(params, x, y, codes, *, geo, E: int, wanted: tuple[str, ...]) -> dict:
    """Every requested data proxy of one batch, in one program (one compile per width and set)."""
    out = {}
    back = tuple(n for n in wanted if PROXIES[n].family == "backprop")
    if back:
        _, grads, hidden = loss_and_hidden(params, x, y, codes, geo=geo, E=E)
        out.update(gradient.grad_values(geo, params, grads, back))
        if "naswot" in back:
            out["naswot"] = activation.naswot(geo, params, hidden, codes, E)
        if "hidden_covariance" in back:
            out["hidden_covariance"] = activation.hidden_covariance(geo, hidden, codes)
        if {"head_confidence", "head_softmax_confidence"} & set(back):
            out.update(activation.confidences(geo, params, hidden, codes, E))
    if "grasp" in wanted:
        out["grasp"] = sensitivity.grasp(params, x, y, codes, geo=geo, E=E)
    if "fisher" in wanted:
        out["fisher"] = sensitivity.fisher(params, x, y, codes, geo=geo, E=E)
    if "synflow" in wanted:
        out["synflow"] = sensitivity.synflow(params, x, codes, geo=geo, E=E)
    if "jacob_cov" in wanted:
        out["jacob_cov"] = sensitivity.jacob_cov(params, x, codes, geo=geo, E=E)
    return {k: out[k] for k in wanted}


_program_jit = jax.jit(_program, static_argnames=("geo", "E", "wanted"))


def _data_values(probe: Probe, arch: ArchConfig, wanted: Sequence[str]) -> dict[str, float]:
    """Every requested data proxy of one architecture, averaged over the probe's batches."""
    E, codes = codes_of(probe, arch)
    wanted = tuple(n for n in PROXIES if n in wanted)  # one order: one compile per set
    sums: dict[str, float] = {}
    for x, y in probe.batches:
        got = _program_jit(probe.params, x, y, codes, geo=probe.geo, E=E, wanted=wanted)
        for k, v in jax.device_get(got).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    return {k: v / len(probe.batches) for k, v in sums.items()}


def score(
    probe: Probe, archs: Sequence[ArchConfig], wanted: Sequence[str], *, reference=None
) -> list[dict[str, float]]:
    """``[{name: value}]`` for each architecture (``reference``: the ensemble's, see :func:`scorer`)."""
    wanted = check_names(wanted)
    need = list(wanted)
    if "ensemble" in wanted:
        need = [n for n in need if n != "ensemble"] + [m for m in ensemble.MEMBERS if m not in need]
    simple = [n for n in need if PROXIES[n].family == "complexity"]
    data = [n for n in need if PROXIES[n].family not in ("complexity", "ensemble")]
    cols = complexity.values(probe.space, archs, simple) if archs else {}
    rows = [_data_values(probe, a, data) if data else {} for a in archs]
    for i, row in enumerate(rows):
        row.update({n: float(cols[n][i]) for n in simple})
    if "ensemble" in wanted and archs:
        if reference is None:
            reference = _reference(probe, need)
        mine = {m: [r[m] for r in rows] for m in ensemble.MEMBERS}
        for row, v in zip(rows, ensemble.combine(mine, reference), strict=True):
            row["ensemble"] = float(v)
    return [{n: row[n] for n in wanted} for row in rows]


def _reference(probe: Probe, need: Sequence[str]) -> dict[str, list[float]]:
    """The members' values on the reference sample (scored with ``need``: the same programs)."""
    ref = ensemble.reference_archs(probe.space, seed=probe.seed)
    rows = score(probe, ref, [n for n in need if n != "ensemble"])
    return {m: [r[m] for r in rows] for m in ensemble.MEMBERS}


def needs_data(wanted: Sequence[str]) -> bool:
    return any(PROXIES[n].family != "complexity" for n in check_names(wanted))


def scorer(
    space: SearchSpace,
    wanted: Sequence[str],
    *,
    seed: int = 0,
    batches: int = 1,
    batch_size: int = 16,
    seq_len: int | None = None,
    data: dict | None = None,
) -> Callable[[Sequence[ArchConfig]], list[dict[str, float]]]:
    """``archs -> [{proxy: value}]``; the probe (weights, batches) and the ensemble's reference
    are built once, at the first call."""
    wanted = check_names(wanted)
    state: dict = {}

    def fn(archs: Sequence[ArchConfig]) -> list[dict[str, float]]:
        if "probe" not in state:
            state["probe"] = make_probe(
                space,
                seed=seed,
                batches=batches,
                batch_size=batch_size,
                seq_len=seq_len,
                data=data,
                need_data=needs_data(wanted),
            )
            need = [n for n in wanted if n != "ensemble"] + [m for m in ensemble.MEMBERS if m not in wanted]
            state["ref"] = _reference(state["probe"], need) if "ensemble" in wanted else None
        return score(state["probe"], list(archs), wanted, reference=state["ref"])

    return fn


def check_finite(rows: Sequence[dict[str, float]], archs: Sequence[ArchConfig]) -> None:
    """One line naming the first proxy and architecture whose value is NaN or infinite."""
    for row, arch in zip(rows, archs, strict=True):
        for k, v in row.items():
            if not math.isfinite(v):
                raise NasError(f"proxy {k!r} is {v} (not finite) for architecture {arch.to_json()}")


__all__ = [
    "PROXIES",
    "DEFAULT",
    "Probe",
    "make_probe",
    "score",
    "scorer",
    "names",
    "check_names",
    "check_finite",
    "np",
]

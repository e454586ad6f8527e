"""Proxy study: do zero-cost proxies rank architectures as training does, better than params?

    taskset -c 0 python experiments/proxy_study.py            # every dataset (about an hour on 1 core, resumable)
    python experiments/proxy_study.py --hwgpt-n 24             # also HW-GPT-Bench M rows with data proxies (slow)
    python experiments/proxy_study.py --report-only            # the report from the units finished so far

Data someone measured by training:

* the fidelity study's stand-alone subnets (``experiments/results/fidelity_study_units/
  {lm-shakespeare,vit-mnist}/standalone/``): every architecture trained from scratch with seed A
  (``*-A.json``) and a dozen of them again with seed B (``*-B.json``); truth = validation
  perplexity (lower is better) or accuracy;
* the HW-GPT-Bench tables (``/work/shared/data/hwgpt/``, GPT-2 M and L spaces, perplexity on
  OpenWebText).  Reduction, stated: the complexity proxies (``params``, ``nonembed_params``,
  ``flops``) are computed at GPT-2's geometry (vocabulary 50,257, context 1,024) for
  ``--hwgpt-rows`` seeded rows of each table (default 1,000: M's seeded sample; L, 429 rows,
  whole).  The data proxies need the supernet at initialization (22-36 layers, embedding up to
  1,280: 0.3-0.7 G weights); ``--hwgpt-n N`` scores N seeded rows of the M table with them, at a
  2,048-token BPE of Shakespeare (not OpenWebText), 32-token windows, 2 examples, the
  one-backward-pass family only.  Default 0: on the shared 2-core machine (load ~25) building
  that probe alone did not finish in 14 minutes, so the committed study has the complexity
  proxies only on these tables.

Per dataset and proxy: Kendall tau and Spearman rho with 95 % bootstrap intervals
(:mod:`nas.rank_stats`), the paired tau difference against ``params`` and ``nonembed_params``
(same resamples), and the seconds per architecture (compile excluded) of all the data proxies
together: they are one compiled program per embedding width, and compiling one program per
family and width was too slow on the shared machine to time each family apart.  Proxies are scored at seed 0, 1 batch of 16 examples.  Every architecture's
family values are one JSON unit under ``--units`` (resumable).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

ROOT = Path(__file__).resolve().parents[1]
FIDELITY = ROOT / "experiments/results/fidelity_study_units"
HWGPT = Path("/work/shared/data/hwgpt")
FAMILIES = {
    "complexity": ["params", "nonembed_params", "flops"],
    "backprop": [
        "grad_norm", "snip", "synaptic_diversity", "synaptic_saliency", "dss", "head_importance",
        "naswot", "hidden_covariance", "head_confidence", "head_softmax_confidence",
    ],
    "grasp": ["grasp"],
    "synflow": ["synflow"],
    "fisher": ["fisher"],
    "jacob_cov": ["jacob_cov"],
}  # fmt: skip
HW_FIELDS = {"depth": "sample_n_layer", "embed_dim": "sample_embed_dim", "bias": "sample_bias",
             "num_heads": "sample_n_head", "mlp_ratio": "sample_mlp_ratio"}  # fmt: skip


def _key(arch_json: str) -> str:
    return hashlib.sha1(arch_json.encode()).hexdigest()[:10]


def fidelity_truth(space_name: str) -> dict[str, dict]:
    """{"A": {arch json: metric}, "B": {...}} from the fidelity study's stand-alone units."""
    from search_spaces import load_space

    space = load_space(space_name)
    out: dict[str, dict] = {"A": {}, "B": {}}
    for f in sorted((FIDELITY / space_name / "standalone").glob("*.json")):
        d = json.loads(f.read_text())
        metric = d.get("perplexity", d.get("accuracy"))
        out[f.stem[-1]][space.parse(d["arch"]).to_json()] = float(metric)
    return out


def hwgpt_space(which: str, *, probe: bool):
    """The HW-GPT-Bench space with a task: GPT-2 geometry (complexity) or the reduced probe."""
    from search_spaces import load_space, space_from_dict

    d = load_space(str(ROOT / f"experiments/spaces/hwgpt-{which}.yaml")).to_dict()
    task = {"kind": "lm", "dataset": "shakespeare", "tokenizer": "bpe", "head_dim": 64,
            "tie_embeddings": True, "searched_only": ["bias"]}  # fmt: skip
    task.update({"vocab_size": 2048, "seq_len": 32} if probe else {"vocab_size": 50257, "seq_len": 1024})
    return space_from_dict(
        {**d, "name": f"hwgpt-{which}{'-probe' if probe else ''}", "task": task}, source="proxy study"
    )


def hwgpt_truth(which: str) -> dict[str, float]:
    from nas.table import read_table

    rows = read_table(HWGPT / f"hwgpt_{which}_perplexity.jsonl", fields=HW_FIELDS, metrics=["perplexity"])
    return {k: v["perplexity"] for k, v in rows.items()}


REPORT_ONLY = False


def score_units(
    name: str, space, archs: list, families: list[str], units: Path, probe_kw: dict
) -> dict[str, dict]:
    """Each architecture's proxy values and per-family seconds, one resumable JSON unit each."""
    from search_spaces import ArchConfig
    from supernet import proxies as P

    folder = units / name
    if REPORT_ONLY and families != ["complexity"]:  # closed-form units are cheap: made here too
        done = {a: folder / f"{_key(a)}.json" for a in archs}
        return {a: json.loads(f.read_text()) for a, f in done.items() if f.is_file()}
    folder.mkdir(parents=True, exist_ok=True)
    todo = [a for a in archs if not (folder / f"{_key(a)}.json").is_file()]
    if todo and families == ["complexity"]:  # closed form: no weights, all at once
        cols = P.complexity.values(space, [ArchConfig.from_json(a) for a in todo], FAMILIES["complexity"])
        for i, a in enumerate(todo):
            row = {k: float(v[i]) for k, v in cols.items()}
            (folder / f"{_key(a)}.json").write_text(
                json.dumps({"arch": json.loads(a), "values": row, "seconds": {}})
            )
        todo = []
    need_ref = "backprop" in families and not (folder / "_reference.json").is_file()
    if todo or need_ref:
        t0 = time.perf_counter()
        probe = P.make_probe(space, need_data=families != ["complexity"], **probe_kw)
        print(f"[{name}] probe {time.perf_counter() - t0:.1f}s; {len(todo)} architectures", flush=True)
        data = [n for f in families if f != "complexity" for n in FAMILIES[f]]
        seen_widths: set[int] = set()
        for i, a in enumerate(todo):
            arch = ArchConfig.from_json(a)
            row = P.score(probe, [arch], FAMILIES["complexity"])[0]
            if int(arch.embed_dim) not in seen_widths:  # compile first, then time a second run
                P.score(probe, [arch], data)
                seen_widths.add(int(arch.embed_dim))
            t = time.perf_counter()
            row.update(P.score(probe, [arch], data)[0])
            secs = {"data": time.perf_counter() - t}
            (folder / f"{_key(a)}.json").write_text(
                json.dumps({"arch": json.loads(a), "values": row, "seconds": secs})
            )
            if i % 10 == 0:
                print(f"[{name}] {i + 1}/{len(todo)} {secs}", flush=True)
        if need_ref:
            score_reference(probe, data, folder)
    return {a: json.loads((folder / f"{_key(a)}.json").read_text()) for a in archs}


def score_reference(probe, data: list[str], folder: Path, *, reverse: bool = False) -> None:
    """The ensemble's fixed reference sample (:func:`supernet.proxies.ensemble.reference_archs`)
    scored with the study's program (every proxy kept, so any subset can be the ensemble's members),
    one resumable unit per architecture under ``folder/_reference/`` (``reverse``: a second worker
    starts from the end), then ``folder/_reference.json``: ``{proxy: [value per architecture]}``."""
    from supernet import proxies as P
    from supernet.proxies import ensemble

    parts = folder / "_reference"
    parts.mkdir(exist_ok=True)
    ref = list(enumerate(ensemble.reference_archs(probe.space, seed=probe.seed)))
    for i, arch in reversed(ref) if reverse else ref:
        if not (parts / f"{i:03d}.json").is_file():
            row = P.score(probe, [arch], [*FAMILIES["complexity"], *data])[0]
            (parts / f"{i:03d}.json").write_text(json.dumps(row))
            print(f"[{folder.name}] reference {i}", flush=True)
    files = [parts / f"{i:03d}.json" for i, _ in ref]
    if all(f.is_file() for f in files):
        rows = [json.loads(f.read_text()) for f in files]
        (folder / "_reference.json").write_text(json.dumps({m: [r[m] for r in rows] for m in rows[0]}))


def add_ensemble(units: dict[str, dict], folder: Path) -> None:
    from supernet.proxies import ensemble

    ref_file = folder / "_reference.json"
    if not ref_file.is_file():
        return
    ref = json.loads(ref_file.read_text())
    if not all(m in ref for m in ensemble.MEMBERS):  # scored before the members changed: rescore it
        return
    keys = list(units)
    vals = {m: [units[k]["values"][m] for k in keys] for m in ensemble.MEMBERS}
    for k, v in zip(keys, ensemble.combine(vals, ref), strict=True):
        units[k]["values"]["ensemble"] = float(v)


def datasets(args) -> list[tuple[str, dict, dict, bool]]:
    """(name, {arch json: truth}, units, lower_better) per dataset, scoring what is missing."""
    import numpy as np

    from search_spaces import load_space

    out = []
    kw = {"seed": 0, "batches": 1, "batch_size": 16}
    for sp in ("vit-mnist", "lm-shakespeare"):
        truth = fidelity_truth(sp)
        archs = sorted(set(truth["A"]) | set(truth["B"]))
        units = score_units(sp, load_space(sp), archs, list(FAMILIES), args.units, kw)
        if not units:
            continue
        add_ensemble(units, args.units / sp)
        for seed in ("A", "B"):
            out.append((f"{sp} seed {seed}", truth[seed], units, sp.startswith("lm")))
    for which in ("m", "l"):
        truth = hwgpt_truth(which)
        if len(truth) > args.hwgpt_rows:  # Kendall's bootstrap compares every pair: a seeded subset
            keep = np.random.default_rng(1).choice(sorted(truth), size=args.hwgpt_rows, replace=False)
            truth = {k: truth[k] for k in sorted(keep.tolist())}
        units = score_units(
            f"hwgpt-{which}", hwgpt_space(which, probe=False), sorted(truth), ["complexity"], args.units, kw
        )
        out.append((f"hwgpt-{which} ({len(truth)} rows, complexity)", truth, units, True))
    if not args.hwgpt_n:
        return out
    truth = hwgpt_truth("m")

    pick = sorted(np.random.default_rng(0).choice(sorted(truth), size=args.hwgpt_n, replace=False).tolist())
    hw_kw = {"seed": 0, "batches": 1, "batch_size": 2, "seq_len": 32}
    units = score_units(
        "hwgpt-m-probe", hwgpt_space("m", probe=True), pick, ["complexity", "backprop"], args.units, hw_kw
    )
    full = score_units("hwgpt-m", hwgpt_space("m", probe=False), pick, ["complexity"], args.units, kw)
    for k in pick:  # the complexity proxies at GPT-2's geometry
        units[k]["values"].update(full[k]["values"])
    add_ensemble(units, args.units / "hwgpt-m-probe")
    out.append((f"hwgpt-m ({args.hwgpt_n} rows, data proxies)", {k: truth[k] for k in pick}, units, True))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=Path, default=ROOT / "experiments/results/proxy_study_units")
    p.add_argument("--results", type=Path, default=ROOT / "experiments/results")
    p.add_argument("--hwgpt-n", type=int, default=0, help="HW-GPT-Bench M rows scored with the data proxies")
    p.add_argument(
        "--hwgpt-rows", type=int, default=1000, help="rows of a table kept for the complexity proxies"
    )
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--report-only", action="store_true", help="score nothing; report the finished units")
    args = p.parse_args(argv)
    global REPORT_ONLY
    REPORT_ONLY = args.report_only
    from experiments.proxy_report import write_report
    from supernet.cache import enable_compile_cache

    enable_compile_cache()
    write_report(datasets(args), args.results, n_boot=args.n_boot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

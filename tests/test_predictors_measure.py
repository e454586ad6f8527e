"""Measurement on this machine: real compiled forwards, few repeats, tiny architectures."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from predictors.campaign import read_jsonl, run_campaign, stratified_archs
from predictors.drift import reference_archs
from predictors.interleaved import measure_group, time_group
from predictors.measure import measure, pinned, summarize
from search_spaces import ArchConfig, NasError, complexity, sample_batch


def test_measure_jax_reports_median_spread_and_fingerprint(vit_space):
    r = measure(vit_space, vit_space.smallest(), repeats=5, warmup=2)
    assert r["min_ms"] <= r["median_ms"] <= r["max_ms"] and r["median_ms"] > 0
    assert r["iqr_ms"] >= 0 and r["cv"] >= 0 and r["repeats"] == 5 and r["calls_per_block"] >= 1
    fp = r["fingerprint"]
    assert fp["backend"] == "jax" and fp["batch_size"] == 1 and fp["cpu_count"] == os.cpu_count()
    assert {"cpu_model", "jax_version", "xla_version", "platform", "seq_len"} <= set(fp)
    json.dumps(r)  # a record is plain JSON


@pytest.mark.slow
def test_measure_onnx_backend(vit_space):
    r = measure(vit_space, vit_space.smallest(), backend="onnx", repeats=3, warmup=1)
    assert r["median_ms"] > 0 and r["fingerprint"]["backend"] == "onnx"
    assert "onnxruntime_version" in r["fingerprint"]


def test_measure_rejects_bad_input(vit_space, lm_space):
    with pytest.raises(NasError, match="backend"):
        measure(vit_space, vit_space.smallest(), backend="tflite")
    with pytest.raises(NasError, match="embed_dim"):
        measure(vit_space, lm_space.largest(), repeats=1)
    with pytest.raises(NasError, match="repeats"):
        measure(vit_space, vit_space.smallest(), repeats=0)


def test_pinned_restores_affinity():
    before = os.sched_getaffinity(0)
    core = max(before)
    with pinned(core):
        assert os.sched_getaffinity(0) == {core}
    assert os.sched_getaffinity(0) == before


def test_summarize_figures():
    s = summarize(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert s["median_ms"] == 3.0 and s["iqr_ms"] == 2.0 and s["min_ms"] == 1.0 and s["max_ms"] == 100.0


def test_stratified_choice_is_deterministic_distinct_and_covers_the_range(lm_space):
    a = stratified_archs(lm_space, 40, seed=3)
    assert a == stratified_archs(lm_space, 40, seed=3)
    assert len(set(a)) == 40 and a[:20] == stratified_archs(lm_space, 20, seed=3)
    f = np.log(complexity(lm_space, a)["flops"])
    pool = np.log(complexity(lm_space, sample_batch(lm_space, 3, 20000))["flops"])
    lo, hi = np.quantile(pool, 0.1), np.quantile(pool, 0.9)
    # Uniform sampling puts 10 % in each tail; stratification gives the tails more.
    assert (f < lo).mean() + (f > hi).mean() > 0.3
    assert lm_space.smallest() in a and lm_space.largest() in a


def test_campaign_resumes_without_measuring_twice(vit_space, tmp_path):
    out = tmp_path / "m.jsonl"
    kw = dict(device="test", out=out, group=2, rounds=2, repeats=2, warmup=1, progress=False)
    run_campaign(vit_space, n=2, **kw)
    first = read_jsonl(out)
    assert len(first) == 2
    # A kill mid-write leaves a torn last line; the re-run drops it and goes on.
    with open(out, "a") as f:
        f.write('{"space": "vit-mnist", "arch": {"dep')
    recs = run_campaign(vit_space, n=3, **kw)
    lines = read_jsonl(out)
    assert len(recs) == len(lines) == 3 and lines[:2] == first
    archs = [ArchConfig.from_dict(r["arch"]) for r in lines]
    assert len(set(archs)) == 3 and archs == stratified_archs(vit_space, 3)
    assert all(r["device"] == "test" and r["flops"] > 0 for r in lines)
    # Every group also timed the references chosen by the first run (kept on resume).
    refs = {a.to_json() for a in reference_archs(vit_space, stratified_archs(vit_space, 2), 4)}
    assert refs and all(set(r["ref_ms"]) == refs and min(r["ref_ms"].values()) > 0 for r in lines)


def test_group_is_timed_in_rounds_and_keeps_the_median_of_round_medians(vit_space):
    archs = [vit_space.smallest(), vit_space.largest()]
    recs = measure_group(vit_space, archs, rounds=3, repeats=2, warmup=1)
    assert [r["rounds"] for r in recs] == [3, 3] and all(r["round_iqr_ms"] >= 0 for r in recs)
    assert all(0 <= r["stolen_visits"] <= 3 for r in recs)
    assert all(r["min_ms"] <= r["median_ms"] <= r["max_ms"] for r in recs)
    assert recs[0]["median_ms"] < recs[1]["median_ms"]  # 0.26 vs 29 MFLOPs
    with pytest.raises(NasError, match="rounds"):
        measure_group(vit_space, archs, rounds=0)


def test_steal_ticks_reads_this_vm():
    from predictors.interleaved import steal_ticks

    a = steal_ticks(None)
    assert a >= 0 and steal_ticks(None) >= a and steal_ticks(max(os.sched_getaffinity(0))) >= 0


def test_time_group_visits_every_call_once_per_round_in_a_seeded_order():
    log: list[int] = []
    calls = [lambda i=i: log.append(i) for i in range(4)]
    times, med, k, _ = time_group(
        calls, rounds=3, repeats=1, warmup=0, core=None, block_ms=0.0, visit_tries=1
    )
    assert times.shape == (4, 3, 1) and med.shape == (4, 3) and (k == 1).all()
    order = [i for i in log]  # warm-up (3 calls) + 1 timed call per visit
    visits = [order[j] for j in range(0, len(order), 4)]
    assert sorted(visits[:4]) == [0, 1, 2, 3] and len(visits) == 12
    log.clear()
    time_group(calls, rounds=3, repeats=1, warmup=0, core=None, block_ms=0.0, visit_tries=1)
    assert log == order


def _scripted(spreads):
    """A measure_fn whose n-th call reports the n-th spreads (retry logic only; timing is tested above)."""
    calls = []

    def fn(space, archs, *, seed, **kw):
        calls.append(len(archs))
        s = spreads[len(calls) - 1]
        return [
            {"median_ms": 1.0, "round_iqr_ms": s, "fingerprint": {"batch_size": 1}, "try": len(calls)}
            for _ in archs
        ]

    return fn, calls


def test_unsteady_measurements_are_repeated_and_the_steadiest_kept(vit_space):
    from predictors.campaign import measure_stable

    archs = vit_space.sample_many(0, 3)
    fn, calls = _scripted([0.5, 0.3, 0.4])
    out = measure_stable(vit_space, archs, fn, seed=0, max_spread=0.1, retries=2)
    assert calls == [3, 3, 3] and [r["try"] for r in out] == [2, 2, 2] and out[0]["attempts"] == 3
    fn, calls = _scripted([0.05])
    out = measure_stable(vit_space, archs, fn, seed=0, max_spread=0.1, retries=2)
    assert calls == [3] and out[0]["attempts"] == 1


def test_remeasure_unsteady_rewrites_only_unsteady_records(vit_space, tmp_path):
    from predictors.campaign import remeasure_unsteady

    out = tmp_path / "m.jsonl"
    kw = dict(device="t", out=out, group=3, rounds=3, repeats=2, warmup=1, progress=False)
    run_campaign(vit_space, n=3, references=0, **kw)
    before = read_jsonl(out)
    for i, r in enumerate(before):
        r["round_iqr_ms"] = r["median_ms"] * (0.9 if i == 1 else 0.0)
    out.write_text("".join(json.dumps(r) + "\n" for r in before))
    fn, calls = _scripted([0.05])
    assert remeasure_unsteady(out, measure_fn=fn) == 1 and calls == [1]
    after = read_jsonl(out)
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1]["arch"] == before[1]["arch"] and after[1]["try"] == 1
    assert after[1]["attempts"] == before[1]["attempts"] + 1

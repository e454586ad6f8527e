"""Reference architectures in every group and the drift correction between groups."""

from __future__ import annotations

import numpy as np
import pytest

from predictors.drift import (
    corrected_latency,
    group_factors,
    measure_on_scale,
    reference_archs,
    with_references,
)
from search_spaces import complexity


def _drifting_device(true_ms, speeds):
    """A measure_fn whose n-th call runs at speed factor speeds[n] (the machine's drift)."""
    calls = []

    def fn(space, archs, **kw):
        s = speeds[len(calls)]
        calls.append([a.to_json() for a in archs])
        return [{"median_ms": true_ms[a] * s} for a in archs]

    return fn, calls


def test_references_are_spread_over_the_flops_range_and_deterministic(vit_space):
    archs = vit_space.sample_many(0, 40)
    refs = reference_archs(vit_space, archs, 3)
    assert refs == reference_archs(vit_space, archs, 3) and len(set(refs)) == 3
    f = complexity(vit_space, archs)["flops"]
    fr = complexity(vit_space, refs)["flops"]
    assert f.min() < fr.min() and fr.max() < f.max() and (np.diff(fr) >= 0).all()
    assert reference_archs(vit_space, archs, 0) == []


def test_reference_timings_undo_the_drift_between_groups(vit_space):
    archs = vit_space.sample_many(1, 12)
    true_ms = {a: 0.1 * (i + 1) for i, a in enumerate(archs)}
    refs = archs[:3]
    speeds = [1.0, 1.3, 0.8, 1.0]  # the machine is 30 % slower for group 2, 20 % faster for 3
    fn, calls = _drifting_device(true_ms, speeds)
    measure = with_references(fn, refs)
    records = []
    for g in range(4):
        records += measure(vit_space, archs[3 * g : 3 * g + 3], seed=g)
    # References are timed in every group, but reported only as members of their own.
    assert [len(c) for c in calls] == [3, 6, 6, 6] and len(records) == 12
    assert all(set(r["ref_ms"]) == {a.to_json() for a in refs} for r in records)
    raw = np.array([r["median_ms"] for r in records])
    want = np.array([true_ms[a] for a in archs])
    assert np.abs(raw / want - 1).max() > 0.25  # the drift is there before correction
    np.testing.assert_allclose(group_factors(records), np.repeat(speeds, 3))
    np.testing.assert_allclose(corrected_latency(records), want)


def test_a_later_timing_goes_on_the_campaigns_scale(vit_space):
    archs = vit_space.sample_many(2, 5)
    true_ms = {a: 0.2 * (i + 1) for i, a in enumerate(archs)}
    levels = {a.to_json(): true_ms[a] for a in archs[:3]}  # the references' usual times
    fn, calls = _drifting_device(true_ms, [1.25, 0.9])
    recs, now, f = measure_on_scale(fn, vit_space, archs[3:], levels)
    assert len(calls[0]) == 5 and f == pytest.approx(1.25)
    np.testing.assert_allclose([r["median_ms"] / f for r in recs], [true_ms[a] for a in archs[3:]])
    recs, now, f = measure_on_scale(fn, vit_space, [], levels)  # the references alone
    assert recs == [] and len(now) == 3 and f == pytest.approx(0.9)


def test_records_without_references_keep_their_raw_median():
    recs = [{"median_ms": 2.0}, {"median_ms": 3.0, "ref_ms": {}}]
    np.testing.assert_allclose(corrected_latency(recs), [2.0, 3.0])
    assert len(corrected_latency([])) == 0


def test_bundle_latency_goes_on_the_shipped_predictors_speed_scale(vit_space):
    from nas.export.bundle import measure_bundle_latency

    arch = vit_space.smallest()
    m = measure_bundle_latency(vit_space, arch, devices=["no-such-device", "cpu-host"])
    f = m["speed_factor"]["cpu-host"]
    assert 0.2 < f < 5 and m["median_ms"] > 0
    assert m["on_scale"]["cpu-host"] == pytest.approx(m["median_ms"] / f)
    assert "on_scale" not in measure_bundle_latency(vit_space, arch, repeats=5)


def test_a_later_timing_repeats_the_campaigns_target(vit_space, tmp_path, monkeypatch):
    """A predictor measured at batch 8 is checked at batch 8 (its fingerprint says so), and a
    bundle's batch-1 time is not put on its scale (it would not compare)."""
    import json
    import shutil

    from nas.export.bundle import _references
    from predictors.check import speed_now
    from predictors.interleaved import measure_group
    from predictors.measure import timing_of
    from predictors.registry import SHIPPED

    assert timing_of({"backend": "onnx", "batch_size": 8, "seq_len": 32, "onnx_provider": "CPUExecutionProvider"}) == {
        "backend": "onnx", "batch_size": 8, "seq_len": 32, "provider": "CPUExecutionProvider"}  # fmt: skip
    dev = tmp_path / "reg" / "cpu-b8"
    dev.mkdir(parents=True)
    shutil.copy(SHIPPED / "cpu-host" / "vit-mnist.npz", dev)
    meta = json.loads((SHIPPED / "cpu-host" / "vit-mnist.json").read_text())
    meta["fingerprint"]["batch_size"] = 8
    (dev / "vit-mnist.json").write_text(json.dumps(meta))
    monkeypatch.setenv("NAS_PREDICTORS", str(tmp_path / "reg"))
    seen = []

    def measure(space, archs, **kw):
        seen.append(kw)
        return measure_group(space, archs, **kw)

    out = speed_now("cpu-b8", vit_space, measure_fn=measure, rounds=1, repeats=2)
    assert seen[0]["batch_size"] == 8 and seen[0]["backend"] == "jax" and out["speed_factor"] > 0
    assert _references("cpu-b8", vit_space) == {} and _references("cpu-host", vit_space)

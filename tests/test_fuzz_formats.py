"""Property-based fuzz of the project's own file formats (hypothesis, seeded).

For each format, start from a valid file, apply random structural mutations (delete a
key, change a value's type, swap a list for a mapping or back, put NaN or infinity in
a number, add a key, truncate the text) and check that the reader either works as
before or raises :class:`NasError` with one line, and that no file already written
changes.  The readers are called in-process (the loaders behind the CLI); a few cases
go through the ``nas`` command to check exit 2 and no traceback.

700 cases per run (``derandomize``: the same cases every run), each bounded by the
readers' own speed: no model is built and no search runs.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from bad_input_helpers import SEARCH, SPACE_TEXT
from conftest import run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from search_spaces.errors import NasError

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
ODD = [None, True, 0, -1, 2.5, math.nan, math.inf, "", "x", [], {}, [1, "a"], {"a": 1}]


# ---- mutations ------------------------------------------------------------------------------
def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, fn) -> Any:
    if not path:
        return fn(doc)
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    key = path[-1]
    new = fn(parent[key])
    if new is _DELETE:
        del parent[key]
    else:
        parent[key] = new
    return doc


_DELETE = object()


@st.composite
def mutated(draw, valid: Any) -> Any:
    """``valid`` with 1-3 random structural mutations."""
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["delete", "retype", "swap", "nan", "extra"]))
        if op == "delete":
            doc = _set(doc, path, lambda _: _DELETE)
        elif op == "retype":
            v = draw(st.sampled_from(ODD))
            doc = _set(doc, path, lambda _, v=v: copy.deepcopy(v))
        elif op == "swap":  # a list for a mapping, a mapping for a list, a scalar for a list of it
            doc = _set(
                doc,
                path,
                lambda x: (
                    {str(i): v for i, v in enumerate(x)}
                    if isinstance(x, list)
                    else (list(x.values()) if isinstance(x, dict) else [x])
                ),
            )
        elif op == "nan":
            v = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
            doc = _set(doc, path, lambda x, v=v: v if isinstance(x, (int, float)) else x)
        else:
            parent = path[:-1]
            key = draw(st.sampled_from(["zz", "extra_field", "kind", "name"]))

            def add(x, key=key):
                if isinstance(x, dict):
                    x = dict(x)
                    x.setdefault(key, 1)
                return x

            doc = _set(doc, parent, add) if parent else add(doc)
    return doc


def _one_line(e: NasError) -> None:
    msg = str(e)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg


def _read_or_refuse(fn, *args, **kwargs):
    """The reader's result, or None when it refused with one NasError line; anything else fails."""
    try:
        out = fn(*args, **kwargs)
    except NasError as e:
        _one_line(e)
        event("refused in one line")  # pytest --hypothesis-show-statistics counts them
        return None
    event("read")
    return out


def _truncations(text: str):
    return st.integers(0, max(len(text) - 1, 0)).map(lambda n: text[:n])


# ---- space YAML and its task block ----------------------------------------------------------
SPACE = yaml.safe_load(SPACE_TEXT)


@settings(FUZZ, max_examples=150)
@given(doc=mutated(SPACE))
def test_fuzz_space_declarations(doc):
    from search_spaces import space_from_dict

    space = _read_or_refuse(space_from_dict, doc, source="space file 'fuzz.yaml'")
    if space is not None:  # works as before: it samples and round-trips
        arch = space.sample(0)
        space.validate(arch)
        assert space_from_dict(space.to_dict()).to_dict() == space.to_dict()


@settings(FUZZ, max_examples=100)
@given(task=mutated(SPACE["task"]))
def test_fuzz_task_blocks(task):
    from search_spaces import space_from_dict
    from search_spaces.geometry import task_geometry

    space = _read_or_refuse(space_from_dict, dict(SPACE, task=task), source="space 'fuzz'")
    if space is not None and space.task:
        _read_or_refuse(task_geometry, space)  # the geometry the model and complexity read


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-files")


@settings(FUZZ, max_examples=50)
@given(text=_truncations(SPACE_TEXT))
def test_fuzz_truncated_space_files(files, text):
    from search_spaces import load_space_file

    path = files / "space.yaml"
    path.write_text(text)
    _read_or_refuse(load_space_file, path)
    assert path.read_text() == text


# ---- search configs and a run's config.yaml -------------------------------------------------
@settings(FUZZ, max_examples=100)
@given(doc=mutated(SEARCH))
def test_fuzz_search_configs(doc):
    from nas import search_config

    cfg = _read_or_refuse(search_config.check, doc, source="search config 'fuzz.yaml'")
    if cfg is not None:
        assert cfg.budget >= 1 and cfg.objectives and cfg.evaluators


@pytest.fixture(scope="module")
def run_config_text():
    from nas import search_config

    return yaml.safe_dump(dict(search_config.check(SEARCH).raw, lag=2), sort_keys=False)


@settings(FUZZ, max_examples=50)
@given(data=st.data())
def test_fuzz_run_config_yaml(files, run_config_text, data):
    from nas import run_dir

    valid = yaml.safe_load(run_config_text)
    text = data.draw(
        st.one_of(mutated(valid).map(lambda d: yaml.safe_dump(d)), _truncations(run_config_text))
    )
    run = files / "run"
    run.mkdir(exist_ok=True)
    (run / "config.yaml").write_text(text)
    _read_or_refuse(run_dir.load_config, run)
    assert (run / "config.yaml").read_text() == text


# ---- a bundle's config.json -----------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle(tiny_bundle, tmp_path_factory):
    b = tmp_path_factory.mktemp("fuzz-bundle") / "b"
    shutil.copytree(tiny_bundle, b)
    return b


def _files_but_config(b: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(b.rglob("*")) if p.is_file() and p.name != "config.json"}


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_fuzz_bundle_configs(bundle, data):
    """What ``load_subnet`` reads before the weights: config.json, its schema, the checksums of
    every file, the space and the architecture."""
    from nas.export.load import read_config, verify_bundle
    from search_spaces import space_from_dict

    valid = json.loads((bundle / "config.json").read_text())
    doc = data.draw(mutated(valid))
    text = json.dumps(doc)
    if data.draw(st.booleans()):
        text = text[: data.draw(st.integers(0, len(text) - 1))]
    (bundle / "config.json").write_text(text)
    before = _files_but_config(bundle)

    def read():
        cfg = read_config(bundle)
        verify_bundle(bundle, cfg)
        space_from_dict(cfg["space"], source="bundle").parse(cfg["arch"])

    try:
        _read_or_refuse(read)
    finally:
        assert _files_but_config(bundle) == before
        (bundle / "config.json").write_text(json.dumps(valid))


# ---- a predictor's JSON and npz -------------------------------------------------------------
@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    """The shipped vit-mnist predictor saved again (format 3, with its array manifest)."""
    from predictors import registry

    root = tmp_path_factory.mktemp("fuzz-predictors")
    part = registry.load_part(registry.SHIPPED / "cpu-host" / "vit-mnist.json")
    js = registry.save(root, "dev", part)
    return js, json.loads(js.read_text()), js.with_suffix(".npz").read_bytes()


@pytest.fixture(scope="module")
def legacy_predictor(tmp_path_factory):
    """A copy of the shipped file itself (format 2: no array manifest, the legacy rule)."""
    from predictors import registry

    js = tmp_path_factory.mktemp("fuzz-legacy") / "vit-mnist.json"
    for ext in (".json", ".npz"):
        js.with_suffix(ext).write_bytes((registry.SHIPPED / "cpu-host" / f"vit-mnist{ext}").read_bytes())
    return js, json.loads(js.read_text()), js.with_suffix(".npz").read_bytes()


def _use(js: Path):
    from predictors import registry
    from predictors.measure import timing_of
    from search_spaces import to_batch

    part = registry.load_part(js)
    mean, _ = part.predict_batch(to_batch(part.space, [part.space.smallest(), part.space.largest()]))
    assert np.all(np.isfinite(mean))
    timing_of(part.meta.get("fingerprint") or {})  # what calibrate and a bundle's timing read
    assert all(math.isfinite(float(v)) for v in (part.meta.get("references") or {}).values())


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_fuzz_predictor_files(predictor, legacy_predictor, data):
    """The JSON mutated, or an npz array dropped / changed with ``npz_sha256`` updated to match,
    in a file of this format or of format 2 (no array manifest)."""
    import hashlib
    import io

    js, meta, npz = legacy_predictor if data.draw(st.booleans()) else predictor
    npz_path = js.with_suffix(".npz")
    doc = meta
    if data.draw(st.booleans()):
        doc = data.draw(mutated(meta))
    else:
        with np.load(io.BytesIO(npz)) as z:
            arrays = {k: z[k] for k in z.files}
        name = data.draw(st.sampled_from(sorted(arrays)))
        if data.draw(st.booleans()):
            arrays.pop(name)
        else:
            a = arrays[name].astype(np.float64)
            arrays[name] = np.where(np.arange(a.size).reshape(a.shape) == 0, np.nan, a) if a.size else a
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        npz_path.write_bytes(buf.getvalue())
        doc = dict(meta, npz_sha256=hashlib.sha256(buf.getvalue()).hexdigest())
    text = json.dumps(doc)
    js.write_text(text)
    written = npz_path.read_bytes()
    try:
        _read_or_refuse(_use, js)
        assert js.read_text() == text and npz_path.read_bytes() == written
    finally:
        js.write_text(json.dumps(meta))
        npz_path.write_bytes(npz)


# ---- a few through the real command: exit 2, one line, no traceback -------------------------
def test_the_issue_families_through_the_nas_command(tmp_path, predictor):
    """The issue's cases: a predictor whose feature block is a list, a search maximizing and
    minimizing one metric, a space whose task block is ``{kind: vit}`` alone."""
    js, meta, npz = predictor
    dev = tmp_path / "reg" / "dev"
    dev.mkdir(parents=True)
    (dev / "vit-mnist.json").write_text(json.dumps(dict(meta, features=list(meta["features"].values()))))
    (dev / "vit-mnist.npz").write_bytes(npz)
    search = tmp_path / "search.yaml"
    search.write_text(yaml.safe_dump(dict(SEARCH, objectives=["max accuracy", "min accuracy"])))
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(dict(SPACE, task={"kind": "vit"})))
    cases = [
        (["latency", "verify", "dev"], "field 'features': expected"),
        (["search", search, "--run-dir", tmp_path / "run", "--no-progress"], "both maximized and minimized"),
        (["spaces", "show", space], "field 'task' must state its geometry"),
    ]
    for argv, needle in cases:
        out = run_cli(*map(str, argv), env={"NAS_PREDICTORS": str(tmp_path / "reg")})
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and needle in lines[0], out.stderr
        assert "Traceback" not in out.stderr and not (tmp_path / "run" / "history.jsonl").exists()

"""`nas spaces ...` through a real subprocess, including user mistakes."""

from __future__ import annotations

import json

import pytest

from search_spaces import ArchConfig, load_space


def test_list_and_show(cli):
    r = cli("spaces", "list")
    assert r.returncode == 0, r.stderr
    assert "vit-mnist" in r.stdout and "charlm-shakespeare" in r.stdout
    r = cli("spaces", "show", "vit-mnist")
    assert r.returncode == 0, r.stderr
    assert "size: 598,235,400" in r.stdout and "largest:" in r.stdout and "FLOPs" in r.stdout


def test_sample_is_seeded_json_lines(cli):
    r1 = cli("spaces", "sample", "charlm-shakespeare", "-n", "5", "--seed", "3")
    r2 = cli("spaces", "sample", "charlm-shakespeare", "-n", "5", "--seed", "3")
    assert r1.returncode == 0 and r1.stdout == r2.stdout
    space = load_space("charlm-shakespeare")
    lines = r1.stdout.strip().splitlines()
    assert len(lines) == 5
    for line in lines:
        space.validate(ArchConfig.from_json(line))


def test_validate_ok_and_yaml_space(cli, tmp_path):
    yaml_path = tmp_path / "mine.yaml"
    yaml_path.write_text(
        "name: mine\nmax_depth: 12\nglobal:\n  depth: [2, 12]\n  bias: [true, false]\n"
        "layer:\n  kernel: [3, 5]\n"
    )
    r = cli("spaces", "sample", yaml_path, "-n", "1")
    assert r.returncode == 0, r.stderr
    arch_path = tmp_path / "a.json"
    arch_path.write_text(r.stdout.strip())
    r = cli("spaces", "validate", yaml_path, arch_path)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr


@pytest.mark.parametrize(
    "yaml_text, arch, needle",
    [
        (None, None, "unknown space 'nope'"),
        ("name: x\nmax_depth: 2\nlayer: [1, 2\n", None, "malformed YAML"),
        ("name: x\nmax_depth: 2\nlayers:\n  k: [1]\n", None, "unknown field 'layers'"),
        ("name: x\nmax_depth: 2\nglobal:\n  depth: [1, 5]\n", None, "choice 5"),
        (None, {"depth": 7}, "field 'depth' has value 7"),
        (
            None,
            {"depth": 1, "embed_dim": 32, "num_heads": [3], "mlp_dim": [64], "attn_type": ["linear"]},
            "field 'num_heads[0]' has value 3",
        ),
        (
            None,
            {
                "depth": 1,
                "embed_dim": 32,
                "num_heads": [1],
                "mlp_dim": [64],
                "attn_type": ["linear"],
                "dropout": 0.1,
            },
            "field 'dropout'",
        ),
    ],
)
def test_user_mistakes_one_line_exit_2(cli, tmp_path, yaml_text, arch, needle):
    space = "nope" if yaml_text is None and arch is None else "vit-mnist"
    if yaml_text is not None:
        space = tmp_path / "bad.yaml"
        space.write_text(yaml_text)
    if arch is None:
        r = cli("spaces", "show", space)
    else:
        path = tmp_path / "arch.json"
        path.write_text(json.dumps(arch))
        r = cli("spaces", "validate", space, path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

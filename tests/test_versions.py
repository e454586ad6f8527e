"""Mixed package versions across the processes of one training run (issue: multi-host training's
bad input): the check every process of a distributed run makes before the first step, and each
Ray Train worker against its driver.  The two-process runs of tests/test_distributed_train.py go
through the gathering itself (same versions: no error)."""

from __future__ import annotations

import pytest

from search_spaces.errors import NasError
from supernet import versions


def test_mixed_package_versions_are_one_line_naming_package_versions_and_where():
    mine = versions.package_versions()
    assert set(mine) == set(versions.PACKAGES) and mine["jax"] != "not installed"
    assert versions.mismatch_line([mine, dict(mine)]) is None
    versions.check_against(dict(mine), where="10.0.0.2")  # the same: no error
    line = versions.mismatch_line([mine, mine, dict(mine, flax="0.0.1")])
    assert line is not None and "\n" not in line
    assert f"flax {mine['flax']} on process 0 and process 1, 0.0.1 on process 2" in line
    assert "jax " not in line  # only what differs
    with pytest.raises(NasError, match="flax 0.0.1 on the driver, .* on the worker on 10.0.0.2"):
        versions.check_against(dict(mine, flax="0.0.1"), where="10.0.0.2")


def test_versions_cross_processes_intact():
    """What :func:`versions.check_across_processes` gathers decodes to what each process has."""
    mine = versions.package_versions()
    assert versions._decode(versions._encode(mine)) == mine
    odd = dict(mine, numpy="2.1.0rc1+local.build")
    assert versions._decode(versions._encode(odd)) == odd

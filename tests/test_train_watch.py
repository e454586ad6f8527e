"""The driver's watch over a Ray Train run's nodes (:mod:`nas.train_watch`), on ``ray.nodes()``
records: a node that dies is named once, and a cluster that can no longer hold the workers is
one stop line naming what they ask for and what is left."""

from __future__ import annotations

from nas.train_watch import newly_lost, shortfall, stop_line


def _node(nid: str, ip: str, cpus: float, alive: bool = True, why: str = "") -> dict:
    return {"NodeID": nid * 7, "Alive": alive, "NodeManagerAddress": ip, "Resources": {"CPU": cpus, f"node:{ip}": 1.0},
            "DeathReasonMessage": why}  # fmt: skip


def test_a_node_that_dies_is_named_once_and_the_shortfall_is_what_the_workers_ask_for():
    start = [
        _node("a1b2c3d4", "10.0.0.1", 0),
        _node("e5f6a7b8", "10.0.0.2", 1),
        _node("c9d0e1f2", "10.0.0.3", 1),
    ]
    alive = {n["NodeID"] for n in start}
    told: set[str] = set()
    assert newly_lost(start, alive, told) == [] and shortfall(start, {"CPU": 2.0}) == {}
    now = [start[0], _node("e5f6a7b8", "10.0.0.2", 1, alive=False, why="raylet died\nmore"), start[2]]
    assert newly_lost(now, alive, told) == ["node 10.0.0.2 (e5f6a7b8) lost (raylet died)"]
    assert newly_lost(now, alive, told) == []  # said once
    short = shortfall(now, {"CPU": 2.0})
    assert short == {"CPU": (2.0, 1.0)}
    assert shortfall(now, {"CPU": 1.0}) == {}  # one worker still fits: Ray Train restarts it there
    assert stop_line(["node 10.0.0.2 (e5f6a7b8) lost (raylet died)"], 2, short, 5, "/shared/run") == (
        "node 10.0.0.2 (e5f6a7b8) lost (raylet died): the 2 training workers ask for CPU 2 in all, the alive "
        "nodes have CPU 1 (waited 5 s): training stops, its checkpoints kept in '/shared/run' (run the same "
        "command again to resume once the cluster has room)"
    )
    late = _node(
        "0a0b0c0d", "10.0.0.9", 4, alive=False
    )  # joined after the start, then died: not ours to name
    assert newly_lost([*now, late], alive, told) == []


def test_a_placement_timeout_that_is_not_positive_is_one_line(tmp_path):
    import pytest

    from nas.cluster_train import train_on_ray
    from search_spaces import NasError

    with pytest.raises(NasError, match=r"^field '--placement-timeout': expected seconds > 0, got 0$"):
        train_on_ray({"batch_size": 8}, tmp_path / "wd", workers=2, placement_timeout=0)
    assert not (tmp_path / "wd").exists()

"""Property tests: every operator stays inside the space; JSON and encoding are exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_spaces import ArchConfig, InvalidArchError, SearchSpace, load_space

USER_SPACE = SearchSpace(
    name="user",
    max_depth=12,
    global_dims={"depth": [1, 4, 12], "width": [0.5, 1.0, 2.0], "bias": [True, False]},
    layer_dims={"kernel": [3, 5, 7], "act": ["relu", "gelu", "swish"], "skip": [True, False]},
)
SPACES = [load_space("vit-mnist"), load_space("charlm-shakespeare"), USER_SPACE]
seeds = st.integers(min_value=0, max_value=2**32 - 1)
space_ids = st.integers(min_value=0, max_value=len(SPACES) - 1)


@settings(max_examples=60, deadline=None)
@given(space_ids, seeds, st.floats(0.0, 1.0))
def test_operators_stay_in_space(si, seed, prob):
    space = SPACES[si]
    a, b = space.sample(seed), space.sample(seed + 1)
    assert space.contains(a) and space.contains(b)
    assert space.contains(space.mutate(a, seed, prob=prob))
    assert space.contains(space.crossover(a, b, seed))


@settings(max_examples=60, deadline=None)
@given(space_ids, seeds)
def test_json_round_trip_is_exact(si, seed):
    arch = SPACES[si].sample(seed)
    again = ArchConfig.from_json(arch.to_json())
    assert again == arch and hash(again) == hash(arch)
    assert again.to_json() == arch.to_json()
    for k, v in arch.to_dict().items():  # types survive (True stays bool, 0.5 stays float)
        assert type(json.loads(arch.to_json())[k]) is type(v if not isinstance(v, tuple) else list(v))


@settings(max_examples=40, deadline=None)
@given(space_ids, seeds)
def test_encoding_is_injective(si, seed):
    space = SPACES[si]
    archs = list(dict.fromkeys(space.sample_many(seed, 200)))
    archs += [space.mutate(a, seed + i, prob=0.1) for i, a in enumerate(archs[:50])]
    archs = list(dict.fromkeys(archs))
    enc = space.encode(archs)
    assert enc.shape == (len(archs), enc.shape[1])
    assert len({row.tobytes() for row in enc}) == len(archs)


def test_same_seed_same_samples():
    for space in SPACES:
        assert space.sample_many(7, 20) == space.sample_many(7, 20)
        assert space.sample_many(7, 20) != space.sample_many(8, 20)
        a = space.sample(1)
        assert space.mutate(a, 3) == space.mutate(a, 3)


def test_mutation_probability_zero_is_identity_and_one_moves():
    space = SPACES[0]
    a = space.sample(0)
    assert space.mutate(a, 5, prob=0.0) == a
    moved = sum(space.mutate(a, s, prob=1.0) != a for s in range(20))
    assert moved >= 15


@pytest.mark.parametrize("mlp_dim", [[64, 64, 256], [64], [64, 64, 64, 64, 64, 64]])
def test_per_layer_values_not_matching_depth_are_an_error_naming_field_and_values(mlp_dim):
    """A value for a layer beyond the depth is not silently dropped: the user wrote another arch."""
    with pytest.raises(InvalidArchError) as e:
        ArchConfig.make(depth=2, embed_dim=32, num_heads=(1, 2), mlp_dim=mlp_dim)
    assert e.value.field == "mlp_dim" and e.value.value == mlp_dim
    assert str(e.value) == (
        f"invalid architecture: field 'mlp_dim' has value {mlp_dim!r}: "
        f"has {len(mlp_dim)} values but depth is 2"
    )
    with pytest.raises(InvalidArchError, match="field 'num_heads'"):
        ArchConfig.from_json('{"depth": 1, "num_heads": [1, 2]}')
    assert ArchConfig.make(depth=2, num_heads=(1, 2)).num_heads == (1, 2)


def test_size_is_exact():
    s = SearchSpace(
        name="t", max_depth=3, global_dims={"depth": [1, 3], "e": [1, 2]}, layer_dims={"h": [1, 2, 3]}
    )
    # depth 1: 2 * 3, depth 3: 2 * 27
    assert s.size() == 2 * 3 + 2 * 27
    brute = {s.sample(i) for i in range(3000)}
    assert len(brute) == s.size()
    big = SearchSpace(name="big", max_depth=40, layer_dims={"h": list(range(10))})
    assert big.size() == 10**40  # exact big integer


def test_smallest_and_largest_are_members_and_ordered(vit_space):
    from search_spaces import params

    lo, hi = vit_space.smallest(), vit_space.largest()
    assert vit_space.contains(lo) and vit_space.contains(hi)
    sizes = [params(vit_space, a) for a in vit_space.sample_many(0, 50)]
    assert params(vit_space, lo) <= min(sizes) and params(vit_space, hi) >= max(sizes)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"depth": 9}, "depth"),
        ({"embed_dim": 33}, "embed_dim"),
        ({"num_heads": [1, 3]}, "num_heads[1]"),
        ({"attn_type": ["softmax", "performer"]}, "attn_type[1]"),
        ({"bogus": 1}, "bogus"),
        ({"embed_dim": [32, 32]}, "embed_dim"),
        ({"mlp_dim": 64}, "mlp_dim"),
    ],
)
def test_invalid_configs_name_the_field(vit_space, change, field):
    base = {
        "depth": 2,
        "embed_dim": 32,
        "num_heads": [1, 2],
        "mlp_dim": [64, 64],
        "attn_type": ["softmax", "linear"],
    }
    base.update(change)
    with pytest.raises(InvalidArchError) as info:
        vit_space.parse(base)
    assert info.value.field == field
    assert field.split("[")[0] in str(info.value)


def test_bool_is_not_int():
    s = SearchSpace(name="b", max_depth=0, global_dims={"flag": [True, False], "k": [0, 1]})
    s.validate(ArchConfig.make(depth=0, flag=True, k=1))
    with pytest.raises(InvalidArchError):
        s.validate(ArchConfig.make(depth=0, flag=1, k=1))
    with pytest.raises(InvalidArchError):
        s.validate(ArchConfig.make(depth=0, flag=True, k=True))


def test_user_space_with_unused_slots_searchable():
    rng = np.random.default_rng(0)
    pop = USER_SPACE.sample_many(rng, 30)
    for _ in range(100):
        i, j = rng.integers(len(pop), size=2)
        child = USER_SPACE.mutate(USER_SPACE.crossover(pop[i], pop[j], rng), rng)
        assert USER_SPACE.contains(child)
        assert len(child["kernel"]) == child.depth
    assert USER_SPACE.encode(pop).shape == (30, 1 + 1 + 1 + 12 * (1 + 3 + 1))

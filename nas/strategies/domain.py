"""Where proposals come from: the whole search space or a finite pool of its members.

A :class:`Domain` is the whole search space or a finite pool of candidates
(for example every row of a lookup table).  It never proposes an architecture twice, projects mutants and children onto the
pool (the nearest unused row in the distance of
:mod:`nas.strategies.features`, which keeps what a mutation kept), and
resamples until an optional cheap pre-filter (constraints on complexity or
predicted latency, as HAT does) accepts them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from nas.strategies.base import Free, Prefilter, parse_arch
from nas.strategies.features import features, locality_weights
from search_spaces import ArchConfig, SearchSpace, operators
from search_spaces.errors import NasError


class Domain:
    """Where proposals come from: a space, or a finite pool of its members."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        pool: Sequence[ArchConfig] | None = None,
        prefilter: Prefilter | None = None,
        free: Free | None = None,
    ) -> None:
        self.space = space
        self.prefilter = prefilter
        self.free = free if free is not None and any(free.columns) else None
        # free values per arch, computed once: novelty ordering scores every asked arch again
        # at each proposal, and the free objectives are functions of the arch alone
        self._free_memo: dict[ArchConfig, np.ndarray] = {}
        enc = space.encode([space.largest(), space.smallest()])
        scale = np.abs(enc).max(0)
        self._scale = np.where(scale > 0, scale, 1.0)
        _, group = features(space, [space.smallest()])
        self._weights = locality_weights(space, group)
        self.surrogate_columns = np.flatnonzero(group < 2)  # global choices and per-layer aggregates
        self.pool: list[ArchConfig] | None = None
        if pool is not None:
            pool = list(dict.fromkeys(pool))
            if not pool:
                raise NasError("field 'pool': the candidate pool is empty")
            for a in pool:
                space.validate(a)
            self.pool = pool
            self._pool_json = [a.to_json() for a in pool]
            self._pool_index = {j: i for i, j in enumerate(self._pool_json)}
            self._pool_enc = self.encode(pool)
            self.pool_features = features(space, pool)[0]
            # float32 copies for the nearest-row distances: ~15x faster than float64 on the VM
            self._pool_f32, self._w32 = (
                self.pool_features.astype(np.float32),
                self._weights.astype(np.float32),
            )
            self._pool_free = None if self.free is None else self._free_checked(pool)

    def _free_checked(self, archs: list[ArchConfig]) -> np.ndarray:
        memo = self._free_memo
        new = list(dict.fromkeys(a for a in archs if a not in memo))
        if new or not archs:
            out = np.asarray(self.free.fn(new), dtype=np.float64).reshape(len(new), -1)
            if out.shape[1] != len(self.free.columns):
                raise ValueError(f"free: {out.shape[1]} columns for {len(self.free.columns)} objectives")
            memo.update(zip(new, out, strict=True))
        return np.array([memo[a] for a in archs], dtype=np.float64).reshape(
            len(archs), len(self.free.columns)
        )

    def rows(self, archs: Sequence[ArchConfig]) -> np.ndarray | None:
        """Pool indices of ``archs`` (None without a pool or when one is not a row)."""
        if self.pool is None:
            return None
        idx = [self._pool_index.get(a.to_json(), -1) for a in archs]
        return None if -1 in idx else np.asarray(idx, dtype=np.int64)

    def free_values(self, archs: Sequence[ArchConfig], rows: np.ndarray | None = None) -> np.ndarray | None:
        """The free objective columns of ``archs`` (None when nothing is free)."""
        if self.free is None:
            return None
        rows = self.rows(archs) if rows is None else rows
        return self._pool_free[rows] if rows is not None else self._free_checked(list(archs))

    def free_range(self) -> np.ndarray:
        """Free objective values that span their range: every pool row, or the
        space's smallest and largest architectures (fixed, for normalizing)."""
        if self.pool is not None:
            return self._pool_free
        if not hasattr(self, "_free_range"):
            self._free_range = self._free_checked([self.space.smallest(), self.space.largest()])
        return self._free_range

    def features(self, archs: Sequence[ArchConfig], rows: np.ndarray | None = None) -> np.ndarray:
        """Features of :mod:`nas.strategies.features` (pool rows from a cache)."""
        rows = self.rows(archs) if rows is None else rows
        return self.pool_features[rows] if rows is not None else features(self.space, list(archs))[0]

    def encode(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """Encoding scaled to about [0, 1] per feature."""
        if not archs:
            return np.zeros((0, len(self._scale)))
        return self.space.encode(list(archs)) / self._scale

    def size(self) -> int | None:
        return len(self.pool) if self.pool is not None else None

    # ---- operators that land on members of the domain ---------------------------
    def _unseen(self, seen: set[str]) -> np.ndarray:
        mask = np.ones(len(self._pool_json), dtype=bool)
        idx = [self._pool_index[j] for j in seen if j in self._pool_index]
        mask[idx] = False
        return mask

    def project(self, arch: ArchConfig, rng: np.random.Generator, seen: set[str]) -> ArchConfig | None:
        """Nearest unseen pool member to ``arch`` (weighted L1 of the features, ties
        broken at random); ``arch`` itself without a pool."""
        if self.pool is None:
            return arch
        ok = self._unseen(seen)
        if not ok.any():
            return None
        x = features(self.space, [arch])[0].astype(np.float32)
        d = np.abs(self._pool_f32 - x) @ self._w32
        d = np.where(ok, d, np.inf)
        best = np.flatnonzero(d <= d.min() + 1e-5)
        return self.pool[int(best[rng.integers(len(best))])]

    def neighbours(self, arch: ArchConfig, *, k: int) -> list[ArchConfig]:
        """The ``k`` nearest other pool rows of a pool member, nearest first; without
        a pool every architecture one site away (``search_spaces.operators.sites``)."""
        if self.pool is not None:
            x = self.features([arch])[0]
            d = np.abs(self.pool_features - x) @ self._weights
            i = self._pool_index.get(arch.to_json())
            if i is not None:
                d[i] = np.inf
            order = np.argsort(d, kind="stable")[:k]
            return [self.pool[int(i)] for i in order if np.isfinite(d[i])]
        out = []
        for name, slot in operators.sites(self.space, arch.depth):
            if name == "depth":
                for depth in self.space.depth_choices:
                    if depth != arch.depth:
                        layers = {
                            d.name: tuple(arch[d.name][min(i, arch.depth - 1)] for i in range(depth))
                            for d in self.space.layer_dimensions
                        }
                        out.append(arch.replace(depth=depth, **layers))
                continue
            dim = self.space.dimension(name)
            for c in dim.choices:
                if slot is None and c != arch[name]:
                    out.append(arch.replace(**{name: c}))
                elif slot is not None and c != arch[name][slot]:
                    seq = list(arch[name])
                    seq[slot] = c
                    out.append(arch.replace(**{name: tuple(seq)}))
        return out

    def sample(self, rng: np.random.Generator, seen: set[str]) -> ArchConfig | None:
        if self.pool is None:
            return self.space.sample(rng)
        idx = np.flatnonzero(self._unseen(seen))
        return self.pool[int(idx[rng.integers(len(idx))])] if len(idx) else None

    def mutate(
        self, arch: ArchConfig, rng: np.random.Generator, seen: set[str], *, prob: float | None = None
    ) -> ArchConfig | None:
        """A local mutant (:func:`search_spaces.operators.mutate_local`: each site
        changes with ``prob``, default one site on average, at least one), projected."""
        return self.project(operators.mutate_local(self.space, arch, rng, prob=prob), rng, seen)

    def crossover(
        self, a: ArchConfig, b: ArchConfig, rng: np.random.Generator, seen: set[str]
    ) -> ArchConfig | None:
        return self.project(self.space.crossover(a, b, rng), rng, seen)

    # ---- candidate sets that use the free objectives --------------------------------
    def pool_feasible(self) -> np.ndarray:
        """Pre-filter verdict on every pool row (computed once)."""
        if not hasattr(self, "_pool_ok"):
            ok = np.ones(len(self.pool), dtype=bool)
            if self.prefilter is not None:
                ok = np.asarray(self.prefilter.fn(self.pool), dtype=bool)
            self._pool_ok = ok
        return self._pool_ok

    def candidate_rows(self, seen: set[str]) -> np.ndarray:
        """Indices of the unseen, pre-filter-feasible pool rows."""
        ok = self.pool_feasible()
        if not ok.any():
            raise NasError(
                f"the constraint region looks empty: none of the {len(ok)} pool members satisfies "
                f"{self.prefilter.text}; relax the constraints"
            )
        return np.flatnonzero(self._unseen(seen) & ok)

    def candidates(
        self, rng: np.random.Generator, seen: set[str], parents: Sequence[ArchConfig], *, n: int
    ) -> list[ArchConfig]:
        """What a surrogate scores: every unseen, pre-filter-feasible pool row, or
        without a pool ``n`` distinct new archs, half local mutants of ``parents``
        (one to a few sites changed) and half uniform samples."""
        if self.pool is not None:
            return [self.pool[int(i)] for i in self.candidate_rows(seen)]
        parents = list(parents)

        def generate(rng, seen):
            if parents and rng.random() < 0.5:
                p = parents[int(rng.integers(len(parents)))]
                return operators.mutate_local(self.space, p, rng, prob=None if rng.random() < 0.5 else 0.1)
            return self.space.sample(rng)

        return self.fill(rng, n, seen, generate)

    def initial(
        self, rng: np.random.Generator, n: int, seen: set[str], *, spread: int = 4
    ) -> list[ArchConfig]:
        """First proposals of a strategy.  Without free objectives: uniform samples.
        With them: the minimizer of each free objective first (the front's ends,
        which a hypervolume weighs most), then uniform picks among the
        ``spread`` candidates farthest (in the free objectives) from everything
        asked so far, so that the initial design covers the free range."""
        if self.free is None:
            return self.fill(rng, n, seen)
        seen = set(seen)
        out: list[ArchConfig] = []
        cols = np.flatnonzero(self.free.columns)
        cands = self.candidates(rng, seen, [], n=max(256, 8 * n))
        if not cands:
            return out
        V = self.free_values(cands)[:, cols]
        lo, hi = V.min(0), V.max(0)
        V = (V - lo) / np.where(hi > lo, hi - lo, 1.0)
        asked = [parse_arch(a) for a in seen]
        W = self.free_values(asked)[:, cols] if asked else np.zeros((0, len(cols)))
        W = (W - lo) / np.where(hi > lo, hi - lo, 1.0)
        taken = np.zeros(len(cands), dtype=bool)
        for _ in range(n):
            if taken.all():
                break
            ends = len(W) < len(cols)  # the minimizer of each free objective first
            score = -V[:, len(W)] if ends else np.abs(V[:, None, :] - W[None, :, :]).sum(-1).min(1)
            score = np.where(taken, -np.inf, score)
            top = np.argsort(-score, kind="stable")[: 1 if ends else spread]
            i = int(top[rng.integers(len(top))])
            taken[i] = True
            out.append(cands[i])
            seen.add(cands[i].to_json())
            W = np.vstack([W, V[i]])
        return out

    def novelty_order(self, archs: list[ArchConfig], seen: set[str]) -> np.ndarray:
        """Indices of ``archs``, farthest first (in the free objectives, scaled by
        their range) from every architecture already asked."""
        cols = np.flatnonzero(self.free.columns)
        rng_ = self.free_range()[:, cols]
        lo, span = rng_.min(0), np.maximum(rng_.max(0) - rng_.min(0), 1e-12)
        V = (self.free_values(archs)[:, cols] - lo) / span
        asked = [parse_arch(a) for a in seen]
        if not asked:
            return np.arange(len(archs))
        W = (self.free_values(asked)[:, cols] - lo) / span
        d = np.abs(V[:, None, :] - W[None, :, :]).sum(-1).min(1)
        return np.argsort(-d, kind="stable")

    # ---- the resampling loop shared by every strategy -----------------------------
    def fill(
        self,
        rng: np.random.Generator,
        n: int,
        seen: set[str],
        generate: Callable[[np.random.Generator, set[str]], ArchConfig | None] | None = None,
        *,
        tries: int = 60,
    ) -> list[ArchConfig]:
        """Up to ``n`` new, distinct, pre-filter-feasible archs from ``generate``
        (uniform samples when ``generate`` is None or keeps failing).  With free
        objectives, of the children ``generate`` makes the ones farthest in the
        free objectives from everything asked go first (:meth:`novelty_order`),
        so that children fill the gaps of the free range (on HW-GPT-Bench the
        ends of each embedding width's params range, which a hypervolume weighs).

        Returns fewer (possibly none) only when the domain runs out of unseen
        members; raises NasError when no candidate at all passes the pre-filter.
        """
        seen = set(seen)
        out: list[ArchConfig] = []
        rejected = drawn = 0
        for attempt in range(tries):
            gen = generate if (generate is not None and attempt < tries // 2) else None
            chunk: dict[str, ArchConfig] = {}
            for _ in range(max(2 * (n - len(out)), 8)):
                a = gen(rng, seen) if gen is not None else self.sample(rng, seen)
                if a is not None:
                    key = a.to_json()
                    if key not in seen and key not in chunk:
                        chunk[key] = a
            chunk = list(chunk.values())
            if gen is not None and self.free is not None and len(chunk) > 1:  # novel children first
                chunk = [chunk[i] for i in self.novelty_order(chunk, seen | {a.to_json() for a in out})]
            if not chunk:
                if self.pool is not None and not self._unseen(seen).any():
                    return out
                continue
            drawn += len(chunk)
            keep = np.ones(len(chunk), dtype=bool)
            if self.prefilter is not None:
                keep = np.asarray(self.prefilter.fn(chunk), dtype=bool)
                rejected += int((~keep).sum())
            for a, k in zip(chunk, keep, strict=False):
                if k and len(out) < n:
                    out.append(a)
                    seen.add(a.to_json())
                elif not k:
                    seen.add(a.to_json())
            if len(out) >= n:
                return out
        if not out and drawn and rejected == drawn:
            raise NasError(
                f"the constraint region looks empty: none of {drawn} sampled architectures satisfies "
                f"{self.prefilter.text}; relax the constraints"
            )
        return out

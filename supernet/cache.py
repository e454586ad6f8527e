"""Where this project caches what it can rebuild: trained tokenizers, token arrays of the
built-in corpora, and XLA's compiled programs.

The root is ``$NAS_CACHE`` (default ``~/.cache/nas``).  The compilation cache is JAX's
own persistent cache (``jax_compilation_cache_dir``): every ``nas`` process and every
search worker compiles the same supernet step and evaluation programs again, and a
compile of a small space's programs costs tens of seconds on 2 cores.  With the cache a
second ``nas train`` of ``experiments/train_tiny.yaml`` took half the time of the first
here (``benchmarks/bench_compile_cache.py``, docs/design.md).  A cached executable is the program XLA would compile again, so results
are unchanged.  ``NAS_XLA_CACHE=0`` turns it off; a ``JAX_COMPILATION_CACHE_DIR`` the
user set wins.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache root: ``$NAS_CACHE`` or ``~/.cache/nas``."""
    return Path(os.environ.get("NAS_CACHE") or Path.home() / ".cache" / "nas")


def enable_compile_cache() -> Path | None:
    """Turns on JAX's persistent compilation cache under the cache root (once per process).

    Returns the folder in use, or None when it is off (``NAS_XLA_CACHE=0``) or cannot be
    created (a read-only home: compiling without a cache is still correct).
    """
    if os.environ.get("NAS_XLA_CACHE", "1") == "0":
        return None
    import jax

    folder = Path(jax.config.jax_compilation_cache_dir or cache_dir() / "xla")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        # Small programs too: a test-sized supernet's programs compile in well under JAX's
        # default threshold of 1 s each, but there are dozens of them per process.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder

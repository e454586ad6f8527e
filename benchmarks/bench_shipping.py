"""What a cluster search ships to its workers, and what it costs.

    python -m benchmarks.bench_shipping [--mb 10,100,400] [--workdir DIR]

On a fresh local Ray (one CPU) it prints, in seconds:

* **code**: until a new actor has imported ``nas`` (a) through the driver's
  ``PYTHONPATH`` (the local route of ``nas.ray_workers.start_ray``) and (b) with
  this project's packages as ``py_modules`` (``predictors.remote.runtime_env``,
  the ``--address`` route): the first time Ray zips, uploads and unpacks them,
  the second time its cache by content hash serves them;
* **payloads**: ``ray.put`` of a pytree of numpy arrays of ``--mb`` megabytes and
  an actor receiving it as an argument (one node: shared memory, no network), and
  with ``--workdir`` the supernet payload of a trained run
  (``supernet.evaluation.load_payload``: the driver's read, its size, its put).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parents[1]


def _nbytes(tree) -> int:
    if isinstance(tree, np.ndarray):
        return tree.nbytes
    if isinstance(tree, dict):
        return sum(_nbytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_nbytes(v) for v in tree)
    return 0


CODE_PROBE = """import json, sys, time
from pathlib import Path
t = time.perf_counter()
import ray
from predictors.remote import runtime_env
renv = runtime_env() if sys.argv[2] == "py_modules" else {"env_vars": {"PYTHONPATH": sys.argv[3]}}
ray.init(address=sys.argv[1], runtime_env=renv, logging_level="ERROR", log_to_driver=False)
joined = time.perf_counter() - t

@ray.remote(num_cpus=1)
def where():
    import nas
    return str(Path(nas.__file__).resolve().parent)

path = ray.get(where.remote())
print(json.dumps({"join": joined, "ready": time.perf_counter() - t, "nas": path}))
"""


def _ray_cli() -> str:
    import shutil
    import sys

    here = Path(sys.executable).parent / "ray"
    return str(here) if here.exists() else (shutil.which("ray") or "ray")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", default="10,100,400", help="sizes of the synthetic payloads (MB)")
    ap.add_argument("--workdir", help="a trained supernet run (nas train) to time its payload")
    args = ap.parse_args()

    import json
    import signal
    import socket
    import subprocess
    import sys
    import tempfile

    import ray

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(RAY_AUTH_MODE="disabled", JAX_PLATFORMS="cpu")  # a throwaway cluster of this benchmark
    home = tempfile.mkdtemp(prefix="bench-shipping-")
    head = subprocess.Popen(
        [_ray_cli(), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--num-cpus", "1", "--include-dashboard=false", "--disable-usage-stats", "--block"],
        env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(120):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        time.sleep(2)
        print("code (a new driver: seconds to join the cluster, and until its first task imported nas):")
        driver_env = dict(env, PYTHONPATH=str(ROOT))
        for label, how in [
            ("", "pythonpath"),  # warm-up: the first driver of a fresh cluster waits for it
            ("PYTHONPATH (local route)", "pythonpath"),
            ("py_modules, first upload", "py_modules"),
            ("py_modules, cached", "py_modules"),
            ("PYTHONPATH again", "pythonpath"),
        ]:
            out = subprocess.run(
                [sys.executable, "-c", CODE_PROBE, address, how, str(ROOT)],
                env=driver_env, cwd=home, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if not label:
                continue
            shipped = "repository" if Path(r["nas"]).is_relative_to(ROOT) else "shipped copy"
            print(f"  {label:<26} join {r['join']:6.2f} s  first task {r['ready']:6.2f} s  ({shipped})")

        os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(address=address, logging_level="ERROR", log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})  # fmt: skip

        @ray.remote(num_cpus=1)
        class Probe:
            def size(self, payload) -> int:
                return _nbytes(payload)

        actor = Probe.remote()
        ray.get(actor.size.remote(None))

        def ship(payload) -> tuple[float, float]:
            t = time.perf_counter()
            ref = ray.put(payload)
            put = time.perf_counter() - t
            t = time.perf_counter()
            assert ray.get(actor.size.remote(ref)) == _nbytes(payload)
            return put, time.perf_counter() - t

        print("payloads through the object store (seconds):")
        rng = np.random.default_rng(0)
        for mb in [int(x) for x in args.mb.split(",") if x]:
            n = mb * 2**20 // 4 // 8
            tree = {f"layer{i}": {"w": rng.random(n, dtype=np.float32)} for i in range(8)}
            put, get = ship(tree)
            print(f"  {mb:>5} MB pytree (8 arrays)   put {put:6.3f} s  actor receives {get:6.3f} s")
            del tree
        if args.workdir:
            from supernet.evaluation import load_payload

            reads = []
            for _ in range(2):  # the first read includes importing JAX and Orbax
                t = time.perf_counter()
                payload = load_payload(args.workdir)
                reads.append(time.perf_counter() - t)
            put, get = ship(payload)
            mb = _nbytes(payload) / 2**20
            print(
                f"  supernet payload {mb:.1f} MB    driver reads {reads[0]:.2f} s (again {reads[1]:.2f} s)  "
                f"put {put:6.3f} s  actor receives {get:6.3f} s"
            )
        ray.shutdown()
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)


if __name__ == "__main__":
    main()

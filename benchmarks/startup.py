"""Import time of the code location against Dagster's own, in fresh interpreters.

Every run and step process Dagster starts imports ``orchestration.definitions`` before it does any
work, so what that import costs beyond ``import dagster`` is paid once per run (and per step with
the multiprocess executor). Each figure is the median wall time of ``--repeat`` fresh
``python -c "import …"`` processes (interpreter start-up included, the same in both), after one
warm-up of each so the OS file cache is equally warm.

    python benchmarks/startup.py [--repeat 5]

The last line is ``import_ratio=<definitions / dagster>`` (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {
    "python (nothing)": "pass",
    "dagster": "import dagster",
    "orchestration.definitions": "import orchestration.definitions",
}


def seconds(statement: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=REPO, env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from orchestration.settings import home_environment

    with tempfile.TemporaryDirectory(prefix="flywheel-startup-") as home:
        env = {**os.environ, **home_environment(Path(home)), "PYTHONPATH": str(REPO)}
        medians = {}
        for name, statement in TARGETS.items():
            seconds(statement, env)  # warm-up
            runs = [seconds(statement, env) for _ in range(args.repeat)]
            medians[name] = statistics.median(runs)
            print(f"{name:<28} median {medians[name]:6.2f} s  (min {min(runs):.2f}, max {max(runs):.2f})")
    ratio = medians["orchestration.definitions"] / medians["dagster"]
    print(f"import_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()

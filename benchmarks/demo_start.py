"""Wall time of one full user start on the demo: the click on Start to JupyterLab.

    .venv/bin/python benchmarks/demo_start.py [--runs 5]

Starts a demo stack (emulator, pod runner, JupyterHub) in a temporary data dir, logs
a user in with Debian's Chromium, and times Start My Server -> spawn form -> the
JupyterLab file browser, stopping the server between runs. The first run is a first
start (the volume is created and filled), the others restart with the volume kept.
Prints each run and the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from demo_browser import Person, chromium  # noqa: E402

from workspace_spawner_testing.demo import DemoStack, free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ip-prefix", default="127.88.8")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as data:
        stack = DemoStack(
            data, port=free_port(), ip_prefix=args.ip_prefix, hub_log=Path(data) / "hub.log"
        )
        stack.start(timeout=120)
        try:
            with chromium() as browser:
                person = Person(browser, stack.url, "bench")
                person.log_in(stack.password)
                times = []
                for run in range(args.runs):
                    seconds = person.start_server()
                    times.append(seconds)
                    kind = "first start" if run == 0 else "restart"
                    print(f"run {run + 1}: {seconds:.1f}s ({kind})", flush=True)
                    person.stop_server()
                person.close()
        finally:
            stack.stop()
    print(
        f"median of {len(times)}: {statistics.median(times):.1f}s "
        f"(min {min(times):.1f}s, max {max(times):.1f}s)"
    )


if __name__ == "__main__":
    main()

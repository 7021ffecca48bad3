"""How much ``%load_ext nb_oauth`` adds to starting IPython (the magics issue asks < 100 ms).

    .venv/bin/python bench/bench_load_ext.py [--runs 15]

Each run is a fresh interpreter: one measures ``import IPython`` and creating a shell, the other
does the same plus ``%load_ext nb_oauth``. Reported: both medians and their difference, and, since
that difference is within the noise of starting a process, the ``%load_ext`` call itself timed
inside each run (the figure to compare between versions).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

BASE = (
    "from IPython.core.interactiveshell import InteractiveShell\n"
    "shell = InteractiveShell.instance()\n"
)
WITH_EXTENSION = BASE + "shell.run_line_magic('load_ext', 'nb_oauth')\n"


def _median_ms(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


TIMED = (
    BASE + "import time\nstart = time.perf_counter()\n"
    "shell.run_line_magic('load_ext', 'nb_oauth')\nprint(time.perf_counter() - start)\n"
)


def _median_call_ms(runs: int) -> float:
    times = [
        float(subprocess.run([sys.executable, "-c", TIMED], check=True, capture_output=True,
                             text=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    _median_ms(WITH_EXTENSION, 2)  # warm the file cache
    base = _median_ms(BASE, args.runs)
    loaded = _median_ms(WITH_EXTENSION, args.runs)
    print(f"IPython shell start-up, median of {args.runs}: {base:.1f} ms")
    print(f"... plus %load_ext nb_oauth:             {loaded:.1f} ms")
    print(f"%load_ext nb_oauth adds:                  {loaded - base:.1f} ms")
    print(f"the %load_ext call itself, median:        {_median_call_ms(args.runs):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

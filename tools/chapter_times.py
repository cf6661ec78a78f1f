"""How long each chapter takes to execute, and which cells take longest.

    python tools/chapter_times.py                        # execute every chapter of book/, one at a time
    python tools/chapter_times.py book/04_fcn.ipynb --top 5 --save _build/timed
    python tools/chapter_times.py --busy 2               # the same, beside two CPU-bound processes
    python tools/chapter_times.py --read _build/timed/*.ipynb       # per-cell times of executed notebooks
    python tools/chapter_times.py --read _build/.jupyter_cache      # what the last `make book` recorded

Two numbers per chapter and per cell:

- **wall**: seconds on the clock, what the book build's per-cell timeout (180 s) counts. On a
  machine shared with other work it grows with the load.
- **cpu**: user + system seconds of the kernel process (and of the children it waited for), read
  from /proc (Linux). Every chapter runs torch on one thread (`seglib.cpu.cpu_thread_policy`),
  so this is close to the wall time the chapter would take on an idle machine, whatever else
  is running now. The targets: a chapter at most 60 s, a cell at most 36 s (a fifth of the
  timeout) with two other CPU-bound processes beside the build.

`--read` takes notebooks that nbclient executed with `record_timing` (this tool's `--save`,
`jupyter nbconvert --execute`) and prints their per-cell wall times. The book's execution cache
(`_build/.jupyter_cache`) keeps each chapter's total time only: myst-nb executes without
`record_timing`, so its stored notebooks carry no per-cell times.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid`, and of the children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime


def execute(path: Path, timeout: int, save: Path | None) -> tuple[float, float, list[tuple[int, float, float, str]]]:
    """Execute notebook `path` in a fresh kernel (cwd: its folder).

    Returns: wall seconds, kernel CPU seconds (kernel start included), and per code cell
    (index, wall s, cpu s, first line of source).
    """
    nb = nbformat.read(path, as_version=4)
    cells, started = [], {}
    total_cpu = [0.0]

    def pid() -> int:
        return client.km.provisioner.process.pid

    def before(cell, cell_index):
        started[cell_index] = (time.perf_counter(), cpu_seconds(pid()))

    def after(cell, cell_index, execute_reply):
        wall0, cpu0 = started[cell_index]
        total_cpu[0] = cpu = cpu_seconds(pid())
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        cells.append((cell_index, time.perf_counter() - wall0, cpu - cpu0, first))

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_execute=before, on_cell_executed=after)
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.name)
    return wall, total_cpu[0], cells


def recorded_cells(nb) -> list[tuple[int, float, str]]:
    """(index, wall s, first source line) of every code cell with nbclient's `execution` timing metadata."""
    rows = []
    for i, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        begin = timing.get("iopub.status.busy") or timing.get("iopub.execute_input")
        end = timing.get("shell.execute_reply") or timing.get("iopub.status.idle")
        if cell.cell_type == "code" and begin and end:
            seconds = (datetime.fromisoformat(end.rstrip("Z")) - datetime.fromisoformat(begin.rstrip("Z"))).total_seconds()
            rows.append((i, seconds, next((s for s in cell.source.splitlines() if s.strip()), "")))
    return rows


def read(paths: list[Path], top: int) -> None:
    """Print the per-cell wall times stored in executed notebooks or in a jupyter-cache folder."""
    for path in paths:
        if path.is_dir():  # a jupyter-cache folder, e.g. _build/.jupyter_cache
            from jupyter_cache import get_cache

            cache = get_cache(path)
            for record in sorted(cache.list_cache_records(), key=lambda r: r.uri):
                seconds = record.data.get("execution_seconds", float("nan"))
                print(f"{Path(record.uri).name:32s} wall {seconds:6.1f} s  (executed {record.created:%Y-%m-%d %H:%M})")
                cells = recorded_cells(cache.get_cache_bundle(record.pk).nb)
                for i, wall, first in sorted(cells, key=lambda c: -c[1])[:top]:
                    print(f"    cell {i:3d}  wall {wall:6.1f} s  {first[:70]}")
            continue
        cells = recorded_cells(nbformat.read(path, as_version=4))
        if not cells:
            print(f"{path.name:32s} no per-cell timing recorded (execute it with record_timing)")
            continue
        print(f"{path.name:32s} wall {sum(c[1] for c in cells):6.1f} s in its code cells")
        for i, wall, first in sorted(cells, key=lambda c: -c[1])[:top]:
            print(f"    cell {i:3d}  wall {wall:6.1f} s  {first[:70]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: book/*.ipynb")
    parser.add_argument("--top", type=int, default=3, help="slowest cells to list per chapter (default 3)")
    parser.add_argument("--timeout", type=int, default=180, help="seconds per cell, as in _config.yml")
    parser.add_argument("--save", type=Path, help="write the executed notebooks (with timing) to this folder")
    parser.add_argument("--busy", type=int, default=0, help="run N CPU-bound processes beside the chapters")
    parser.add_argument("--read", action="store_true", help="read recorded times instead of executing")
    args = parser.parse_args(argv)

    if args.read:
        read(args.notebooks or [ROOT / "_build" / ".jupyter_cache"], args.top)
        return 0
    notebooks = args.notebooks or sorted((ROOT / "book").glob("[0-9]*.ipynb"))
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    failed = 0
    try:
        print(f"{'chapter':32s} {'wall':>7s} {'cpu':>7s}   slowest cells (wall / cpu s)"
              + (f"   [beside {args.busy} busy processes]" if busy else ""))
        for path in notebooks:
            try:
                wall, cpu, cells = execute(path.resolve(), args.timeout, args.save)
            except Exception as error:  # a failing cell: report it, go on with the next chapter
                print(f"{path.name:32s} FAILED: {type(error).__name__}: {str(error).strip().splitlines()[-1][:120]}")
                failed += 1
                continue
            print(f"{path.name:32s} {wall:6.1f}s {cpu:6.1f}s", flush=True)
            for i, cell_wall, cell_cpu, first in sorted(cells, key=lambda c: -c[1])[: args.top]:
                print(f"    cell {i:3d} {cell_wall:6.1f} / {cell_cpu:5.1f}  {first[:70]}", flush=True)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Execute lessons at their full settings, one after another, into one folder, with a log.

Why: the stored outputs of a lesson come from its full settings, and some of them are meant for
a GPU that is lent for a short window (15 minutes, the machine's start included). This runs the
lessons asked for back to back, so the window is spent running: each lesson gets a time limit,
all of them together a budget (a lesson that would start after the budget is spent is skipped,
and the log says so), and a lesson that fails never stops the next one.

    python tools/run_lessons.py 01 02 --out build/lessons-gpu          # or: make lessons-gpu
    python tools/run_lessons.py 06 07 --timeout 600 --budget 780 --out "$OUT"
    MINIVISION_QUICK=1 python tools/run_lessons.py 00                 # try it at quick settings

What lands in --out:
    NN_name.ipynb   the executed lesson, in the repository's JSON format (indent 1, cell ids
                    and metadata kept), so that it can be copied over lessons/NN_name.ipynb;
                    written also when the lesson failed or ran out of time (the outputs so far)
    log.json        one entry per lesson: lesson, status (ok, error, timeout, skipped), start,
                    end (UTC), wall_s, hardware (the line the lesson printed), error
    log.txt         the same, one line per lesson, and the total

The lessons run with nbclient in a Jupyter kernel (``--kernel``, default: the notebook's own,
python3), from the lessons/ folder, as ``make lessons`` and nbval run them. The exit status is 0
only when every lesson asked for ran to the end.
"""
import argparse
import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
# lesson.hardware() prints e.g. "cuda: NVIDIA H200 | torch 2.11.0" or "cpu: AMD EPYC (2 threads) | ..."
HARDWARE = re.compile(r"^(?:cuda|mps|cpu): .*\| torch \S+.*$", re.MULTILINE)


def find_lesson(name: str, folder: Path = LESSONS) -> Path:
    """The notebook a name means: a path to an .ipynb, or a lesson number ("01", "1")."""
    path = Path(name)
    if path.suffix == ".ipynb":
        if not path.exists():
            raise FileNotFoundError(f"no notebook at {path}")
        return path
    if not name.isdigit():
        raise ValueError(f"{name!r} is neither a lesson number (e.g. 01) nor a path to an .ipynb")
    matches = sorted(folder.glob(f"{int(name):02d}_*.ipynb"))
    if not matches:
        known = ", ".join(p.name[:2] for p in sorted(folder.glob("[0-9][0-9]_*.ipynb")))
        raise FileNotFoundError(f"no lesson {int(name):02d} in {folder} (there are: {known})")
    return matches[0]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _printed_text(nb) -> str:
    """Everything the executed cells printed (streams and plain-text results)."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
    return "\n".join(parts)


def write_notebook(nb, path: Path) -> None:
    """Write ``nb`` as the repository stores lessons: indent 1, UTF-8 as is, a final newline."""
    import nbformat

    nbformat.validate(nb)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")


def _hardware(nb) -> str | None:
    """The first hardware line the lesson printed (its setup cell prints lesson.hardware())."""
    match = HARDWARE.search(_printed_text(nb))
    return match.group(0).strip() if match else None


async def _execute(client, deadline: float, where: dict) -> None:
    """nbclient's ``NotebookClient.async_execute``, cell by cell, under one deadline for the
    whole notebook (nbclient's own ``timeout`` is per cell): before each cell the cell's
    timeout becomes the time left, so the lesson stops at its limit wherever it is.
    ``where["cell"]`` is the index of the cell running (for the log, when it fails)."""
    from nbclient.exceptions import CellTimeoutError
    from nbclient.util import ensure_async

    client.reset_execution_trackers()
    async with client.async_setup_kernel():
        reply = await client.async_wait_for_reply(await ensure_async(client.kc.kernel_info()))
        if reply is not None and "language_info" in reply["content"]:
            client.nb.metadata["language_info"] = reply["content"]["language_info"]
        for index, cell in enumerate(client.nb.cells):
            left = deadline - time.monotonic()
            if cell.cell_type == "code" and left <= 0:
                raise CellTimeoutError(f"the lesson's time limit was reached before cell {index}")
            client.timeout = max(1, int(left + 0.999))
            where["cell"] = index
            await client.async_execute_cell(cell, index,
                                            execution_count=client.code_cells_executed + 1)


def run_lesson(path: Path, out_dir: Path, *, timeout: float, kernel: str | None = None) -> dict:
    """Execute one notebook with a time limit; write it (whatever ran) and return its log entry.

    Returns:
        {"lesson", "notebook", "status": "ok" | "error" | "timeout", "start", "end", "wall_s",
        "hardware", "error"}: error is None, or "cell N: ExceptionName: message".
    """
    import asyncio

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    options = dict(timeout=max(1, int(timeout)), shutdown_kernel="immediate",
                   resources={"metadata": {"path": str(path.parent.resolve())}})
    if kernel:
        options["kernel_name"] = kernel
    client = NotebookClient(nb, **options)
    where = {"cell": None}
    entry = {"lesson": path.stem, "notebook": str(out_dir / path.name), "status": "ok",
             "start": _now()}
    began = time.monotonic()
    try:
        asyncio.run(_execute(client, began + timeout, where))
        entry["error"] = None
    except CellTimeoutError:
        entry["status"] = "timeout"
        entry["error"] = f"cell {where['cell']}: stopped at the time limit of {timeout:.0f} s"
    except CellExecutionError as err:
        entry["status"] = "error"
        entry["error"] = f"cell {where['cell']}: {err.ename}: {err.evalue}"
    except Exception as err:  # the kernel died (DeadKernelError) or never started
        entry["status"] = "error"
        entry["error"] = f"cell {where['cell']}: {type(err).__name__}: {err}"
    entry["end"] = _now()
    entry["wall_s"] = round(time.monotonic() - began, 1)
    entry["hardware"] = _hardware(nb)
    write_notebook(nb, out_dir / path.name)
    return entry


def _log_line(entry: dict) -> str:
    wall = f"{entry['wall_s']:7.1f} s" if entry.get("wall_s") is not None else "        -"
    line = f"{entry['lesson']:40} {entry['status']:8} {wall}"
    if entry.get("hardware"):
        line += f"  {entry['hardware']}"
    if entry.get("error"):
        line += f"\n    {entry['error']}"
    return line


def write_log(entries: list[dict], out_dir: Path, *, settings: dict) -> None:
    """log.json and log.txt in ``out_dir``, rewritten after every lesson (a run killed from
    outside still leaves the log of the lessons before)."""
    (out_dir / "log.json").write_text(json.dumps({"settings": settings, "lessons": entries},
                                                 indent=1) + "\n")
    total = sum(e.get("wall_s") or 0 for e in entries)
    ok = sum(e["status"] == "ok" for e in entries)
    lines = [f"run_lessons: mode {settings['mode']}, timeout {settings['timeout_s']:.0f} s per "
             f"lesson, budget {settings['budget_s']:.0f} s, started {settings['start']}"]
    lines += [_log_line(e) for e in entries]
    lines.append(f"{ok} of {len(entries)} lessons ran to the end; {total:.1f} s in all")
    (out_dir / "log.txt").write_text("\n".join(lines) + "\n")


def run_lessons(paths: list[Path], out_dir: Path, *, timeout: float, budget: float,
                kernel: str | None = None) -> list[dict]:
    """Run ``paths`` in order; each gets ``min(timeout, what is left of budget)`` seconds, and
    one whose turn comes after the budget is spent is skipped. Returns the log entries."""
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"mode": "quick" if os.environ.get("MINIVISION_QUICK") else "full",
                "timeout_s": timeout, "budget_s": budget, "start": _now()}
    began, entries = time.monotonic(), []
    for path in paths:
        left = budget - (time.monotonic() - began)
        if left < 1:
            entry = {"lesson": path.stem, "notebook": None, "status": "skipped", "start": None,
                     "end": None, "wall_s": None, "hardware": None,
                     "error": f"the budget of {budget:.0f} s was spent before this lesson"}
        else:
            print(f"[{_now()}] {path.name}: running (limit {min(timeout, left):.0f} s)",
                  flush=True)
            entry = run_lesson(path, out_dir, timeout=min(timeout, left), kernel=kernel)
        entries.append(entry)
        print(_log_line(entry), flush=True)
        write_log(entries, out_dir, settings=settings)
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="+", help="lesson numbers (01 02) or .ipynb paths")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lessons-gpu",
                        help="folder for the executed notebooks and the log")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds per lesson (default 1800)")
    parser.add_argument("--budget", type=float, default=4 * 3600,
                        help="seconds for all lessons together (default 14400)")
    parser.add_argument("--kernel", default=None,
                        help="Jupyter kernel name (default: the notebook's, python3)")
    args = parser.parse_args(argv)
    try:
        paths = [find_lesson(name) for name in args.lessons]
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    entries = run_lessons(paths, args.out, timeout=args.timeout, budget=args.budget,
                          kernel=args.kernel)
    print(f"executed notebooks and log.txt in {args.out}")
    return 0 if all(e["status"] == "ok" for e in entries) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The lessons against the course, in one file: benchmarks/results/lessons.json.

Each entry is one lesson result with a course counterpart: the number as the lesson's stored
outputs print it, the course's number, the seeds, the hardware the lesson printed, and whether
the setting (model, data, budget) is the course's. ``check`` verifies every entry against the
notebook it comes from; ``table`` renders the Markdown table that benchmarks/RESULTS.md holds
between the markers below, and ``--write`` puts it there.

    python tools/lesson_results.py            # check the entries, print the table
    python tools/lesson_results.py --write    # ... and rewrite the table in RESULTS.md
"""
import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "benchmarks" / "results" / "lessons.json"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
BEGIN, END = "<!-- lessons.json: begin -->", "<!-- lessons.json: end -->"
FIELDS = {"lesson": str, "row": str, "metric": str, "course": str, "ours": str, "seeds": int,
          "hardware": str, "same_setting": bool}


def load_entries(path: Path = RESULTS_JSON) -> list[dict]:
    return json.loads(path.read_text())["entries"]


def lesson_outputs(lesson: str) -> list[str]:
    """Every line the stored outputs of lessons/<lesson>_*.ipynb print (stream and text/plain)."""
    (notebook,) = ROOT.glob(f"lessons/{lesson}_*.ipynb")
    lines = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            lines += "".join(text).splitlines()
    return lines


def percent(value: str) -> float | None:
    """The (upper) number of "81.3%" or "97-98%", or None for a value that is not a percentage."""
    numbers = re.findall(r"\d+(?:\.\d+)?", value)
    return float(numbers[-1]) if value.endswith("%") and numbers else None


def problems(entry: dict, outputs: list[str]) -> list[str]:
    """What is wrong with one entry, given the output lines of its lesson."""
    where = f"lesson {entry.get('lesson')}, {entry.get('row')!r}"
    wrong = [f"{where}: field {name!r} missing or not {kind.__name__}"
             for name, kind in FIELDS.items() if not isinstance(entry.get(name), kind)]
    if wrong:
        return wrong
    if not any(entry["row"] in line and entry["ours"] in line for line in outputs):
        wrong.append(f"{where}: no output line holds both the row and {entry['ours']!r}")
    if not any(entry["hardware"] in line for line in outputs):
        wrong.append(f"{where}: the lesson never printed the hardware {entry['hardware']!r}")
    ours, course = percent(entry["ours"]), percent(entry["course"])
    beaten = ours is not None and course is not None and ours > course
    if entry["same_setting"] and not beaten and not entry.get("limit"):
        wrong.append(f"{where}: same setting, ours {entry['ours']} does not beat the course's "
                     f"{entry['course']}, and no 'limit' says why")
    return wrong


def check(entries: list[dict]) -> list[str]:
    found = []
    for lesson in sorted({entry["lesson"] for entry in entries}):
        outputs = lesson_outputs(lesson)
        for entry in (e for e in entries if e["lesson"] == lesson):
            found += problems(entry, outputs)
    return found


def table(entries: list[dict]) -> str:
    """The Markdown table of all entries, in lesson order."""
    lines = ["| lesson | result | ours | the course | seeds | same setting | hardware |",
             "|---|---|---|---|---|---|---|"]
    for e in sorted(entries, key=lambda e: e["lesson"]):
        same = "yes" if e["same_setting"] else "no"
        if e.get("limit"):
            same += f" ({e['limit']})"
        cells = [e["lesson"], e["metric"], e["ours"], e["course"], str(e["seeds"]), same,
                 e["hardware"]]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def results_md_table(text: str) -> str | None:
    """The table between the markers in RESULTS.md's text, or None without markers."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in RESULTS.md")
    args = parser.parse_args(argv)
    entries = load_entries()
    found = check(entries)
    for problem in found:
        print("problem:", problem, file=sys.stderr)
    rendered = table(entries)
    print(rendered)
    if args.write:
        text = RESULTS_MD.read_text()
        if results_md_table(text) is None:
            raise SystemExit(f"{RESULTS_MD} has no {BEGIN} ... {END} markers; add them first.")
        head, rest = text.split(BEGIN, 1)
        RESULTS_MD.write_text(f"{head}{BEGIN}\n{rendered}\n{END}{rest.split(END, 1)[1]}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

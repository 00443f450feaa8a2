"""The ``minivision`` command: ``minivision train ...`` and ``minivision assignment ...``.

Each sub-command lives with the code it drives; this file only dispatches.
"""
import sys

COMMANDS = {
    "train": ("minivision.training.cli", "train a model (see `minivision train --help`)"),
    "assignment": ("minivision.assignment",
                   "write the student version of lessons, or lay them out for nbgrader"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
        usage = "usage: minivision COMMAND [ARGS]\n\ncommands:\n" + "\n".join(lines)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"minivision: unknown command {argv[0]!r}\n\n{usage}", file=sys.stderr)
            return 2
        print(usage)
        return 0
    import importlib

    module = importlib.import_module(COMMANDS[argv[0]][0])
    if argv[0] != "assignment":
        return module.main(argv[1:]) or 0
    try:
        return module.main(argv[1:]) or 0
    except Exception as err:  # a file that is JSON but not a notebook fails deep in nbformat
        files = [a for a in argv[1:] if a.endswith(".ipynb")] or argv[1:]
        print(f"minivision assignment: error: cannot process {', '.join(files)}: "
              f"{type(err).__name__}: {err}. Is each file a Jupyter notebook (.ipynb, nbformat 4)?",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

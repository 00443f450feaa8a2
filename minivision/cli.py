"""The ``minivision`` command: ``minivision train ...`` and ``minivision assignment ...``.

Each sub-command lives with the code it drives; this file only dispatches.
"""
import sys

COMMANDS = {
    "train": ("minivision.training.cli", "train a model (see `minivision train --help`)"),
    "assignment": ("minivision.assignment", "write the student version of lessons"),
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
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())

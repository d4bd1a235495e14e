"""CLI: python -m server embedded|health|chat|launch|merge|build ...

Each subcommand lives in the module that owns the job (its `add_cli(subparsers)` adds it);
library errors become a one-line message and a non-zero exit.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from server.errors import ServerError

COMMAND_MODULES = ["server.embedded", "server.client", "server.lightllm", "server.merge",
                   "server.llama_build"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

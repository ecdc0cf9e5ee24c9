"""`akri-local` / `python -m akri_local`: the local control plane's commands.

    akri-local demo [--keep]     run the demo (make demo)
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # gRPC C-core chatter on socket shutdown
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    if args[0] == "demo":
        from akri_local import demo

        return demo.main(args[1:])
    print(f"akri-local: unknown command {args[0]!r}; try `akri-local --help`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

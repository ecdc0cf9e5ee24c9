"""``python -m akri_local.apiserver --port N --kubeconfig PATH``: run the API emulator standalone.

Serves until SIGINT/SIGTERM; writes a kubeconfig for it when ``--kubeconfig`` is given.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from akri_local.apiserver.server import DEFAULT_BOOKMARK_INTERVAL_SECONDS, ApiServer

__all__ = ["main"]

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m akri_local.apiserver",
                                     description="Kubernetes API emulator for Akri's local control plane")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free port)")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the server to this path")
    parser.add_argument("--bookmark-interval", type=float, default=DEFAULT_BOOKMARK_INTERVAL_SECONDS,
                        help="seconds between watch BOOKMARK events (default %(default)s)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until interrupted; returns the process exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0 <= args.port <= 65535:
        logger.error("--port must be between 0 and 65535, got %d", args.port)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = ApiServer(args.host, args.port, bookmark_interval_seconds=args.bookmark_interval).start()
    except OSError as exc:
        logger.error("cannot bind %s:%d: %s", args.host, args.port, exc)
        return 1
    try:
        if args.kubeconfig:
            path = server.write_kubeconfig(args.kubeconfig)
            logger.info("kubeconfig written to %s", path)
        print(server.url, flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run any `DiscoveryHandler` as a standalone process that speaks Akri's discovery protocol.

Handler side of discovery.proto (akri-contract.md §2.2, discovery-utils/src/discovery/mod.rs):
- serve `v0.DiscoveryHandler/Discover` on `$DISCOVERY_HANDLERS_DIRECTORY/<name>.sock` (stale file
  removed first), or on `$POD_IP:10000` when POD_IP is set; every device list the handler yields
  is one `DiscoverResponse`; `InvalidDiscoveryDetails` ends the stream with INVALID_ARGUMENT and
  its message;
- register with the agent (`v0.Registration/RegisterDiscoveryHandler` on
  `<directory>/agent-registration.sock`, endpoint = socket path (UDS) or `http://$POD_IP:10000`
  (NETWORK), shared flag from the handler), retrying with a bounded backoff (1 s doubling to 10 s;
  Akri waits a flat 10 s);
- register again whenever the agent restarts (the registration socket file is recreated; checked
  every second) or drops a Discover stream (Akri's `register_again` channel), so an agent restart
  never leaves a handler unknown.

`serve_handler(...)` is the coroutine (usable in tests, in-process); `run_handler(...)` is the
console-script wrapper (environment, logging, signals, exit status).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import grpc

from agent.aiokits.stopper import Stopper
from agent.config import REGISTRATION_SOCKET_NAME, UDS_PATH_MAX_BYTES
from agent.discovery._pb import discovery_pb2 as pb
from agent.discovery._pb import discovery_pb2_grpc as pb_grpc
from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handler import DiscoveryHandler, device_to_proto
from agent.logs import configure_logging

__all__ = ["serve_handler", "run_handler", "DISCOVERY_PORT", "REGISTER_BACKOFFS_SECONDS",
           "AGENT_CHECK_INTERVAL_SECONDS", "COMMON_ENVIRONMENT", "DiscoveryServicer"]

logger = logging.getLogger(__name__)

DISCOVERY_PORT = 10000
"""Akri's hard-coded discovery port for NETWORK handlers (discovery-utils DISCOVERY_PORT)."""
REGISTER_BACKOFFS_SECONDS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 10.0)
"""Waits between failed registrations; the last one repeats."""
AGENT_CHECK_INTERVAL_SECONDS = 1.0
"""How often the registration socket is checked for an agent restart."""
REGISTER_TIMEOUT_SECONDS = 5.0
STOP_GRACE_SECONDS = 1.0
DEFAULT_DIRECTORY = "/var/lib/akri"
EPILOG_WIDTH = 100
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)


class DiscoveryServicer(pb_grpc.DiscoveryHandlerServicer):
    """`v0.DiscoveryHandler` over a `DiscoveryHandler`; calls `on_dropped()` when the agent
    cancels a stream."""

    def __init__(self, handler: DiscoveryHandler, on_dropped: Any) -> None:
        self.handler = handler
        self.on_dropped = on_dropped

    async def Discover(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        """Stream the handler's device lists; see the module docstring."""
        properties = {key: (value.vec if value.HasField("vec") else None)
                      for key, value in request.discovery_properties.items()}
        stream = self.handler.discover(request.discovery_details, properties)
        try:
            async for devices in stream:
                yield pb.DiscoverResponse(devices=[cast(Any, device_to_proto(d, pb)) for d in devices])
        except InvalidDiscoveryDetails as exc:
            logger.warning("%s: invalid discoveryDetails: %s", self.handler.name, exc)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except asyncio.CancelledError:
            self.on_dropped()
            raise
        except Exception as exc:  # request handler boundary: report, never crash the server
            logger.exception("%s: discovery failed", self.handler.name)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


def _socket_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_ctime_ns)


async def serve_handler(handler: DiscoveryHandler, *, directory: str | os.PathLike[str],
                        pod_ip: str | None = None, port: int = DISCOVERY_PORT, stopper: Stopper | None = None,
                        registered: asyncio.Event | None = None,
                        retry_backoffs: Sequence[float] = REGISTER_BACKOFFS_SECONDS,
                        check_interval: float = AGENT_CHECK_INTERVAL_SECONDS) -> None:
    """Serve `handler` and keep it registered with the agent until `stopper` stops (or cancelled).

    directory: DISCOVERY_HANDLERS_DIRECTORY (holds the agent's registration socket, and the
    handler's `<name>.sock` unless `pod_ip` is given, then TCP `pod_ip:port` is served).
    registered: set after every successful registration (tests wait on it; clear it to wait for
    the next one). Raises ValueError for a handler without a name or a socket path over 107 bytes,
    RuntimeError when the port cannot be bound.
    """
    if not handler.name:
        raise ValueError(f"{type(handler).__name__} has no name")
    directory = Path(directory)
    stopper = stopper or Stopper()
    dropped = asyncio.Event()
    stopping = False

    def stream_dropped() -> None:
        if not stopping:
            logger.info("%s: the agent dropped a Discover stream; registering again", handler.name)
            dropped.set()

    server = grpc.aio.server()
    pb_grpc.add_DiscoveryHandlerServicer_to_server(DiscoveryServicer(handler, stream_dropped), server)
    socket_path: Path | None = None
    if pod_ip:
        host = f"[{pod_ip}]" if ":" in pod_ip else pod_ip
        address, endpoint, endpoint_type = f"{host}:{port}", f"http://{host}:{port}", \
            pb.RegisterDiscoveryHandlerRequest.NETWORK
    else:
        socket_path = directory / f"{handler.name}.sock"
        if len(str(socket_path).encode()) > UDS_PATH_MAX_BYTES:
            raise ValueError(f"socket path {socket_path} is longer than {UDS_PATH_MAX_BYTES} bytes")
        directory.mkdir(parents=True, exist_ok=True)
        socket_path.unlink(missing_ok=True)
        address, endpoint, endpoint_type = f"unix:{socket_path}", str(socket_path), \
            pb.RegisterDiscoveryHandlerRequest.UDS
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"cannot bind {address}")
    await server.start()
    logger.info("discovery handler %s serving on %s", handler.name, address)
    request = pb.RegisterDiscoveryHandlerRequest(name=handler.name, endpoint=endpoint,
                                                 endpoint_type=endpoint_type, shared=handler.shared)
    keeper = asyncio.create_task(_keep_registered(
        request, directory / REGISTRATION_SOCKET_NAME, dropped, registered, retry_backoffs, check_interval),
        name=f"register:{handler.name}")
    try:
        waiter = asyncio.create_task(stopper.wait())
        done, _ = await asyncio.wait({keeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if keeper in done:
            keeper.result()  # re-raise its failure
    finally:
        stopping = True
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        await server.stop(STOP_GRACE_SECONDS)
        if socket_path is not None:
            socket_path.unlink(missing_ok=True)
        logger.info("discovery handler %s stopped", handler.name)


async def _keep_registered(request: Any, registration_socket: Path, dropped: asyncio.Event,
                           registered: asyncio.Event | None, backoffs: Sequence[float],
                           check_interval: float) -> None:
    """Register, then wait for a reason to register again (dropped stream, agent restart); forever."""
    while True:
        dropped.clear()
        await _register(request, registration_socket, backoffs)
        identity = _socket_identity(registration_socket)
        if registered is not None:
            registered.set()
        while True:
            try:
                await asyncio.wait_for(dropped.wait(), check_interval)
                break
            except TimeoutError:
                if _socket_identity(registration_socket) != identity:
                    logger.info("agent registration socket changed (agent restarted); registering again")
                    break


async def _register(request: Any, registration_socket: Path, backoffs: Sequence[float]) -> None:
    """One successful RegisterDiscoveryHandler call, retried over `backoffs` (last one repeats).
    Raises ValueError when the agent rejects the request as invalid (retrying cannot help)."""
    attempt = 0
    while True:
        try:
            async with grpc.aio.insecure_channel(f"unix:{registration_socket}", options=CHANNEL_OPTIONS) as channel:
                await pb_grpc.RegistrationStub(channel).RegisterDiscoveryHandler(
                    request, timeout=REGISTER_TIMEOUT_SECONDS)
            logger.info("registered discovery handler %s (%s) with the agent", request.name, request.endpoint)
            return
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise ValueError(f"the agent rejected the registration: {exc.details()}") from exc
            delay = backoffs[min(attempt, len(backoffs) - 1)] if backoffs else 1.0
            attempt += 1
            logger.warning("registering %s with the agent at %s failed (attempt #%d; %s); retrying in %.1fs",
                           request.name, registration_socket, attempt, exc.code().name, delay)
            await asyncio.sleep(delay)


COMMON_ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("DISCOVERY_HANDLERS_DIRECTORY", f"holds the agent's {REGISTRATION_SOCKET_NAME} and this handler's "
                                     f"<name>.sock (default {DEFAULT_DIRECTORY})"),
    ("POD_IP", f"when set, serve on $POD_IP:{DISCOVERY_PORT} and register a NETWORK endpoint instead of "
               "a unix socket"),
    ("LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR (default INFO)"),
    ("LOG_FORMAT", "text or json (default text)"),
)
"""(variable, help) read by every standalone handler; each has a flag that overrides it."""


def _environment_epilog(handler_environment: Sequence[tuple[str, str]]) -> str:
    """The `--help` epilog: the handler's own variables, then the common ones, one per line."""
    rows = [*handler_environment, *COMMON_ENVIRONMENT]
    width = max(len(name) for name, _ in rows) + 2
    lines = ["environment variables (the flags above override the common ones):"]
    lines += [textwrap.fill(text, EPILOG_WIDTH, initial_indent=f"  {name.ljust(width)}",
                            subsequent_indent=" " * (width + 2)) for name, text in rows]
    return "\n".join(lines)


def run_handler(handler: DiscoveryHandler, *, argv: Sequence[str] | None = None,
                environ: Mapping[str, str] | None = None, prog: str | None = None,
                handler_environment: Sequence[tuple[str, str]] = ()) -> int:
    """Console-script body: serve `handler` until SIGTERM/SIGINT; returns the exit status.

    Environment (flags override): DISCOVERY_HANDLERS_DIRECTORY (`--discovery-handlers-directory`,
    default /var/lib/akri), POD_IP (`--pod-ip`; set → NETWORK endpoint on port 10000), LOG_LEVEL,
    LOG_FORMAT. 0 after a signal, 2 for invalid settings (one line on stderr), 1 on failure.
    prog: program name in `--help`, usage and error lines (default: the running script's name,
    `sys.argv[0]`). handler_environment: (variable, help) pairs of the handler's own settings,
    listed in `--help` before the common ones (the handler has read them already).
    """
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog=prog or os.path.basename(sys.argv[0]) or f"akri-{handler.name}-discovery",
        description=f"Akri discovery handler {handler.name!r} (standalone): serves v0.DiscoveryHandler and "
                    "registers with the agent.",
        epilog=_environment_epilog(handler_environment), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--discovery-handlers-directory", default=None, metavar="DIR",
                        help="overrides $DISCOVERY_HANDLERS_DIRECTORY")
    parser.add_argument("--pod-ip", default=None, metavar="IP", help="overrides $POD_IP")
    parser.add_argument("--log-level", default=None, metavar="LEVEL",
                        help="overrides $LOG_LEVEL (DEBUG, INFO, WARNING, ERROR)")
    parser.add_argument("--log-format", default=None, metavar="FORMAT", help="overrides $LOG_FORMAT (text, json)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    directory = args.discovery_handlers_directory or environ.get("DISCOVERY_HANDLERS_DIRECTORY") or DEFAULT_DIRECTORY
    pod_ip = args.pod_ip or environ.get("POD_IP") or None
    raw_level = args.log_level or environ.get("LOG_LEVEL") or "INFO"
    raw_format = args.log_format or environ.get("LOG_FORMAT") or "text"
    level, fmt = raw_level.strip().upper(), raw_format.strip().lower()
    problems = []
    if not directory.startswith("/"):
        problems.append(f"DISCOVERY_HANDLERS_DIRECTORY={directory!r}: must be an absolute path")
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"LOG_LEVEL={raw_level!r}: must be DEBUG, INFO, WARNING or ERROR")
    if fmt not in ("text", "json"):
        problems.append(f"LOG_FORMAT={raw_format!r}: must be text or json")
    if problems:
        print(f"{parser.prog}: invalid configuration: {'; '.join(problems)}", file=sys.stderr)
        return 2
    configure_logging(level, fmt)

    async def main() -> None:
        stopper = Stopper()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopper.stop, f"signal {signum}")
        await serve_handler(handler, directory=directory, pod_ip=pod_ip, stopper=stopper)

    try:
        asyncio.run(main())
    except (ValueError, RuntimeError, OSError) as exc:
        logger.error("discovery handler %s failed: %s", handler.name, exc)
        return 1
    return 0

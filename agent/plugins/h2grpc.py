"""A small gRPC server on one unix socket: what the kubelet needs from a device plugin, in ~5 KiB a connection.

Why not `grpc.aio`: the kubelet keeps one HTTP/2 connection (with a ListAndWatch stream) open to
every device plugin, and the agent runs one plugin per Instance. Measured with 1,000 Instances, a
`grpc.aio` server per plugin costs ~19 KiB and gRPC core ~42 KiB per kubelet connection: 60 MiB,
against an agent budget of 79 MiB (DESIGN.md §5). `h2` keeps ~23 KiB of state per connection
(and grpclib on top of it ~42 KiB). This module keeps the per-connection state a gRPC client
actually needs — an HPACK decoder, flow-control windows and the open streams — at ~5 KiB.
Everything else in the agent (registration with the kubelet, pod resources, discovery handlers)
still uses `grpc.aio`. This is a deliberate exception to STYLE.md §5.7 ("grpc.aio throughout,
including device-plugin servers"): the issue's memory target wins over the style note.

What it implements — the server side of gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md) for unary
and server-streaming calls, on the HTTP/2 of RFC 9113:
- connection preface, SETTINGS (acknowledged; INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE honoured),
  PING (answered), WINDOW_UPDATE, RST_STREAM (cancels the call), GOAWAY, HEADERS + CONTINUATION,
  DATA, padding; PRIORITY and unknown frame types are ignored, PUSH_PROMISE is a protocol error;
- flow control both ways: every received DATA byte is credited back at once (connection and
  stream), and DATA sent never exceeds the client's windows nor its maximum frame size (a stream
  whose window is shut waits for WINDOW_UPDATE, so a client that stops reading bounds our memory);
- request headers are decoded with `hpack` (one decoder per connection); SETTINGS_HEADER_TABLE_SIZE
  0 asks the client not to keep a dynamic table (it may index entries until it has our SETTINGS,
  then sends a table size update), which saves ~1.3 KiB of header strings per kubelet connection;
  responses use only static-table and never-indexed literal representations, so they need no
  per-connection encoder;
- requests: exactly one uncompressed length-prefixed message of at most `MAX_MESSAGE_BYTES`
  (4 MiB, gRPC's default); responses are never compressed;
- a call ends with trailers `grpc-status` (+ percent-encoded `grpc-message`); an `RpcError` from
  the handler gives its code, any other exception UNKNOWN (logged); unknown methods answer
  UNIMPLEMENTED, a non-gRPC content-type HTTP 415, more than `MAX_CONCURRENT_STREAMS` open calls
  REFUSED_STREAM.
A connection-level protocol violation answers GOAWAY with the RFC 9113 error code and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import hpack

__all__ = ["Method", "RpcError", "UnixGrpcServer", "MAX_MESSAGE_BYTES", "MAX_CONCURRENT_STREAMS"]

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Largest request message accepted (gRPC's default receive limit)."""
MAX_CONCURRENT_STREAMS = 100
"""Calls open at once per connection (advertised in SETTINGS)."""
MAX_HEADER_BLOCK_BYTES = 16 * 1024
"""Largest request header block (advertised as SETTINGS_MAX_HEADER_LIST_SIZE)."""
MAX_STATUS_MESSAGE_CHARS = 1024
"""Longest `grpc-message` sent (longer ones are cut): ≤ 12 KiB percent-encoded, one HEADERS frame."""

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Frame types, flags, error codes and settings of RFC 9113 §6, §7.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, REFUSED_STREAM, COMPRESSION_ERROR = 0, 1, 3, 6, 7, 9
ENHANCE_YOUR_CALM = 11
SETTINGS_HEADER_TABLE_SIZE = 1
SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 3, 4, 5
SETTINGS_MAX_HEADER_LIST_SIZE = 6
DEFAULT_WINDOW = 65_535
MAX_WINDOW = 2**31 - 1
MAX_FRAME_SIZE = 16_384  # what we receive: the RFC default, never raised
LARGEST_FRAME_SIZE = 2**24 - 1


class Message(Protocol):
    """A protobuf message (the generated classes)."""

    def SerializeToString(self) -> bytes: ...  # noqa: N802, D102


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC of a service: `handler(servicer, request)` (an unbound servicer method) is awaited for
    the response message (unary) or iterated for the response messages (server streaming);
    `request_type` parses the request (a generated protobuf class: `FromString`)."""

    handler: Callable[[Any, Any], Awaitable[Message]] | Callable[[Any, Any], AsyncIterator[Message]]
    request_type: Any
    streaming: bool = False


class RpcError(Exception):
    """Ends a call with a gRPC status: `code` (grpc.StatusCode) and `message` (for the client)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _ConnectionError(Exception):
    def __init__(self, error_code: int, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code


def _frame(frame_type: int, flags: int, stream_id: int, payload: bytes | memoryview = b"") -> bytes:
    return b"".join((len(payload).to_bytes(3, "big"), bytes((frame_type, flags)), stream_id.to_bytes(4, "big"),
                     payload))


_ENCODER = hpack.Encoder()
"""Only never-indexed literals and static-table matches, so its dynamic table stays empty and it
can be shared by every connection."""


def _header_block(*headers: tuple[str, str]) -> bytes:
    return bytes(_ENCODER.encode([hpack.NeverIndexedHeaderTuple(name, value) for name, value in headers],
                                 huffman=False))


_GRPC_MESSAGE_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_RESPONSE_HEADERS = _header_block((":status", "200"), ("content-type", "application/grpc"))
_UNSUPPORTED_MEDIA_TYPE = _header_block((":status", "415"))
_SERVER_SETTINGS = _frame(SETTINGS, 0, 0, b"".join(
    ident.to_bytes(2, "big") + value.to_bytes(4, "big") for ident, value in (
        (SETTINGS_HEADER_TABLE_SIZE, 0),
        (SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS),
        (SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_BLOCK_BYTES))))
_SETTINGS_ACK = _frame(SETTINGS, ACK, 0)


def _status_block(code: grpc.StatusCode, message: str) -> bytes:
    """`grpc-status` and `grpc-message` (cut to MAX_STATUS_MESSAGE_CHARS, so the trailers always fit
    in one HEADERS frame of the smallest maximum frame size a client may set, 16,384 bytes)."""
    headers = [("grpc-status", str(code.value[0]))]
    if message:
        if len(message) > MAX_STATUS_MESSAGE_CHARS:
            message = message[:MAX_STATUS_MESSAGE_CHARS - 1] + "…"
        headers.append(("grpc-message", urllib.parse.quote(message, safe=_GRPC_MESSAGE_SAFE)))
    return _header_block(*headers)


def _without_padding(flags: int, payload: bytes) -> bytes:
    if not flags & PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise _ConnectionError(PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1:len(payload) - payload[0]]


class UnixGrpcServer:
    """Serves `methods` (keyed by gRPC path, e.g. "/v1beta1.DevicePlugin/Allocate"; one table can
    be shared by many servers) of `servicer` on the unix socket `path`. `start` binds (OSError when
    it cannot); `stop` closes the listener and every connection (GOAWAY), cancelling the calls in
    flight. The socket file is left to the caller."""

    def __init__(self, path: str, methods: Mapping[str, Method], servicer: object) -> None:
        self.path = path
        self.methods = methods
        self.servicer = servicer
        self._listener: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    async def start(self) -> None:
        """Listen on `path`. Raises OSError (e.g. missing directory, path too long)."""
        self._listener = await asyncio.get_running_loop().create_unix_server(lambda: _Connection(self), self.path)

    async def stop(self) -> None:
        """Stop listening and close every connection; calls in flight are cancelled."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        for connection in list(self._connections):
            connection.close(NO_ERROR, "server stopping")


class _Stream:
    __slots__ = ("id", "method", "data", "send_window", "task", "headers_sent", "ended")

    def __init__(self, stream_id: int, send_window: int) -> None:
        self.id = stream_id
        self.method: Method | None = None
        self.data = bytearray()
        self.send_window = send_window
        self.task: asyncio.Task[None] | None = None
        self.headers_sent = False
        self.ended = False  # the client sent END_STREAM


class _Connection(asyncio.Protocol):
    """One client connection (RFC 9113 server side, gRPC subset: see the module docstring)."""

    __slots__ = ("_server", "_transport", "_buffer", "_preface_seen", "_decoder", "_streams", "_last_stream_id",
                 "_send_window", "_initial_window", "_max_frame", "_continuation", "_window_opened")

    def __init__(self, server: UnixGrpcServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._preface_seen = False
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = MAX_HEADER_BLOCK_BYTES
        self._streams: dict[int, _Stream] = {}
        self._last_stream_id = 0
        self._send_window = DEFAULT_WINDOW
        self._initial_window = DEFAULT_WINDOW  # the client's SETTINGS_INITIAL_WINDOW_SIZE
        self._max_frame = MAX_FRAME_SIZE  # the client's SETTINGS_MAX_FRAME_SIZE
        self._continuation: tuple[int, int, bytearray] | None = None  # (stream, END_STREAM flag, block so far)
        self._window_opened: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server._connections.add(self)
        transport.write(_SERVER_SETTINGS)

    def data_received(self, data: bytes) -> None:  # noqa: D102
        self._buffer += data
        try:
            self._read_frames()
        except _ConnectionError as exc:
            logger.warning("closing the HTTP/2 connection on %s: %s", self._server.path, exc)
            self.close(exc.error_code, str(exc))

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        self._transport = None
        self._server._connections.discard(self)
        for stream in self._streams.values():
            if stream.task is not None:
                stream.task.cancel()
        self._streams.clear()
        self._wake_senders()

    def close(self, error_code: int, reason: str) -> None:
        """GOAWAY (`error_code`, `reason` as debug data) and close the transport."""
        if self._transport is None:
            return
        payload = self._last_stream_id.to_bytes(4, "big") + error_code.to_bytes(4, "big") + reason.encode()[:256]
        self._transport.write(_frame(GOAWAY, 0, 0, payload))
        self._transport.close()

    # -- reading ----------------------------------------------------------------------------------

    def _read_frames(self) -> None:
        buffer = self._buffer
        if not self._preface_seen:
            if len(buffer) < len(PREFACE):
                if not PREFACE.startswith(buffer):
                    raise _ConnectionError(PROTOCOL_ERROR, "not an HTTP/2 connection preface")
                return
            if buffer[:len(PREFACE)] != PREFACE:
                raise _ConnectionError(PROTOCOL_ERROR, "not an HTTP/2 connection preface")
            del buffer[:len(PREFACE)]
            self._preface_seen = True
        offset = 0
        while len(buffer) - offset >= 9 and self._transport is not None:
            length = int.from_bytes(buffer[offset:offset + 3], "big")
            if length > MAX_FRAME_SIZE:
                raise _ConnectionError(FRAME_SIZE_ERROR, f"frame of {length} bytes exceeds {MAX_FRAME_SIZE}")
            end = offset + 9 + length
            if len(buffer) < end:
                break
            frame_type, flags = buffer[offset + 3], buffer[offset + 4]
            stream_id = int.from_bytes(buffer[offset + 5:offset + 9], "big") & MAX_WINDOW
            payload = bytes(buffer[offset + 9:end])
            offset = end
            self._on_frame(frame_type, flags, stream_id, payload)
        del buffer[:offset]

    def _on_frame(self, frame_type: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._continuation is not None and frame_type != CONTINUATION:
            raise _ConnectionError(PROTOCOL_ERROR, f"frame type {frame_type} inside a header block")
        if frame_type == DATA:
            self._on_data(flags, stream_id, payload)
        elif frame_type == HEADERS:
            if stream_id == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "HEADERS on stream 0")
            block = _without_padding(flags, payload)
            if flags & PRIORITY_FLAG:
                if len(block) < 5:
                    raise _ConnectionError(FRAME_SIZE_ERROR, "HEADERS too short for its priority fields")
                block = block[5:]
            self._continuation = (stream_id, flags & END_STREAM, bytearray(block))
            if flags & END_HEADERS:
                self._on_header_block()
        elif frame_type == CONTINUATION:
            if self._continuation is None or self._continuation[0] != stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, f"unexpected CONTINUATION on stream {stream_id}")
            self._continuation[2].extend(payload)
            if len(self._continuation[2]) > MAX_HEADER_BLOCK_BYTES:
                raise _ConnectionError(ENHANCE_YOUR_CALM, f"header block over {MAX_HEADER_BLOCK_BYTES} bytes")
            if flags & END_HEADERS:
                self._on_header_block()
        elif frame_type == SETTINGS:
            self._on_settings(flags, stream_id, payload)
        elif frame_type == PING:
            if stream_id != 0 or len(payload) != 8:
                raise _ConnectionError(PROTOCOL_ERROR, "malformed PING")
            if not flags & ACK:
                self._write(_frame(PING, ACK, 0, payload))
        elif frame_type == WINDOW_UPDATE:
            self._on_window_update(stream_id, payload)
        elif frame_type == RST_STREAM:
            if stream_id == 0 or len(payload) != 4:
                raise _ConnectionError(PROTOCOL_ERROR if stream_id == 0 else FRAME_SIZE_ERROR, "malformed RST_STREAM")
            stream = self._streams.pop(stream_id, None)
            if stream is not None and stream.task is not None:
                stream.task.cancel()
        elif frame_type == PUSH_PROMISE:
            raise _ConnectionError(PROTOCOL_ERROR, "PUSH_PROMISE from a client")
        # GOAWAY: the client closes the connection itself; PRIORITY and unknown types: ignored.

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0:
            raise _ConnectionError(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            return
        if len(payload) % 6:
            raise _ConnectionError(FRAME_SIZE_ERROR, f"SETTINGS payload of {len(payload)} bytes")
        for at in range(0, len(payload), 6):
            ident, value = int.from_bytes(payload[at:at + 2], "big"), int.from_bytes(payload[at + 2:at + 6], "big")
            if ident == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise _ConnectionError(FLOW_CONTROL_ERROR, f"SETTINGS_INITIAL_WINDOW_SIZE {value}")
                for stream in self._streams.values():
                    stream.send_window += value - self._initial_window
                self._initial_window = value
            elif ident == SETTINGS_MAX_FRAME_SIZE:
                if not MAX_FRAME_SIZE <= value <= LARGEST_FRAME_SIZE:
                    raise _ConnectionError(PROTOCOL_ERROR, f"SETTINGS_MAX_FRAME_SIZE {value}")
                self._max_frame = value
        self._write(_SETTINGS_ACK)
        self._wake_senders()

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _ConnectionError(FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes")
        increment = int.from_bytes(payload, "big") & MAX_WINDOW
        if stream_id == 0:
            if increment == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "connection WINDOW_UPDATE of 0")
            if self._send_window + increment > MAX_WINDOW:
                raise _ConnectionError(FLOW_CONTROL_ERROR, f"connection window over {MAX_WINDOW}")
            self._send_window += increment
        elif (stream := self._streams.get(stream_id)) is not None:
            if increment == 0 or stream.send_window + increment > MAX_WINDOW:  # a stream error (RFC 9113 §6.9)
                self._streams.pop(stream_id)
                if stream.task is not None:
                    stream.task.cancel()
                code = PROTOCOL_ERROR if increment == 0 else FLOW_CONTROL_ERROR
                self._write(_frame(RST_STREAM, 0, stream_id, code.to_bytes(4, "big")))
                return
            stream.send_window += increment
        self._wake_senders()

    def _on_header_block(self) -> None:
        assert self._continuation is not None
        stream_id, end_stream, block = self._continuation
        self._continuation = None
        try:  # every block is decoded, even ones we then ignore: it updates the client's table
            headers = dict(self._decoder.decode(bytes(block), raw=True))
        except hpack.HPACKError as exc:
            raise _ConnectionError(COMPRESSION_ERROR, f"header block: {exc}") from exc
        stream = self._streams.get(stream_id)
        if stream is not None:  # the client's trailers
            if end_stream:
                self._end_request(stream)
            return
        if stream_id % 2 == 0 or stream_id <= self._last_stream_id:
            if stream_id % 2 == 0:
                raise _ConnectionError(PROTOCOL_ERROR, f"client opened even stream {stream_id}")
            return  # a stream already closed (e.g. reset by us): nothing to do
        self._last_stream_id = stream_id
        if len(self._streams) >= MAX_CONCURRENT_STREAMS:
            self._write(_frame(RST_STREAM, 0, stream_id, REFUSED_STREAM.to_bytes(4, "big")))
            return
        stream = self._streams[stream_id] = _Stream(stream_id, self._initial_window)
        path = headers.get(b":path", b"").decode("latin-1")
        if not headers.get(b"content-type", b"").startswith(b"application/grpc"):
            self._streams.pop(stream_id)
            self._write(_frame(HEADERS, END_HEADERS | END_STREAM, stream_id, _UNSUPPORTED_MEDIA_TYPE))
            return
        stream.method = self._server.methods.get(path)
        if stream.method is None:
            self._finish(stream, grpc.StatusCode.UNIMPLEMENTED, f"unknown method {path}")
        elif end_stream:
            self._end_request(stream)

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise _ConnectionError(PROTOCOL_ERROR, "DATA on stream 0")
        stream = self._streams.get(stream_id)
        if payload:  # credit the bytes straight back: the request is buffered below, bounded per stream
            credit = len(payload).to_bytes(4, "big")
            updates = [_frame(WINDOW_UPDATE, 0, 0, credit)]
            if stream is not None and not flags & END_STREAM:
                updates.append(_frame(WINDOW_UPDATE, 0, stream_id, credit))
            self._write(b"".join(updates))
        if stream is None or stream.ended or stream.method is None:
            return  # data of a stream already answered or reset
        stream.data += _without_padding(flags, payload)
        if len(stream.data) > MAX_MESSAGE_BYTES + 5:
            self._finish(stream, grpc.StatusCode.RESOURCE_EXHAUSTED,
                         f"request message larger than {MAX_MESSAGE_BYTES} bytes")
            self._write(_frame(RST_STREAM, 0, stream_id, NO_ERROR.to_bytes(4, "big")))
        elif flags & END_STREAM:
            self._end_request(stream)

    def _end_request(self, stream: _Stream) -> None:
        """The whole request is in: parse its one message and start the call."""
        stream.ended = True
        data, stream.data = stream.data, bytearray()
        method = stream.method
        if method is None:
            return
        if data[:1] == b"\x01":
            self._finish(stream, grpc.StatusCode.UNIMPLEMENTED, "compressed requests are not supported")
            return
        if len(data) < 5 or int.from_bytes(data[1:5], "big") != len(data) - 5:
            self._finish(stream, grpc.StatusCode.INTERNAL,
                         f"expected one length-prefixed request message, got {len(data)} bytes")
            return
        try:
            request = method.request_type.FromString(bytes(data[5:]))
        except Exception as exc:  # protobuf's DecodeError, or anything else a bad message raises
            self._finish(stream, grpc.StatusCode.INTERNAL,
                         f"cannot parse the request as {method.request_type.__name__}: {exc}")
            return
        stream.task = asyncio.get_running_loop().create_task(self._call(stream, method, request))

    # -- writing ----------------------------------------------------------------------------------

    async def _call(self, stream: _Stream, method: Method, request: Any) -> None:
        try:
            if method.streaming:
                async with contextlib.aclosing(method.handler(self._server.servicer, request)) as responses:  # type: ignore[type-var]
                    async for response in responses:
                        await self._send_message(stream, response)
            else:
                await self._send_message(stream, await method.handler(self._server.servicer, request))  # type: ignore[misc]
        except RpcError as exc:
            self._finish(stream, exc.code, exc.message)
        except Exception as exc:
            logger.exception("gRPC call on %s failed", self._server.path)
            self._finish(stream, grpc.StatusCode.UNKNOWN, f"{type(exc).__name__}: {exc}")
        else:
            self._finish(stream, grpc.StatusCode.OK, "")

    async def _send_message(self, stream: _Stream, message: Message) -> None:
        body = message.SerializeToString()
        pending = memoryview(b"\x00" + len(body).to_bytes(4, "big") + body)
        if not stream.headers_sent:
            stream.headers_sent = True
            self._write(_frame(HEADERS, END_HEADERS, stream.id, _RESPONSE_HEADERS))
        while pending:
            size = min(len(pending), self._send_window, stream.send_window, self._max_frame)
            if size <= 0:
                await self._window_open()
                continue
            self._send_window -= size
            stream.send_window -= size
            self._write(_frame(DATA, 0, stream.id, pending[:size]))
            pending = pending[size:]

    async def _window_open(self) -> None:
        """Wait for a WINDOW_UPDATE or SETTINGS; raises ConnectionError when the connection is gone."""
        if self._transport is None:
            raise ConnectionError("connection closed")
        if self._window_opened is None:
            self._window_opened = asyncio.get_running_loop().create_future()
        await self._window_opened

    def _wake_senders(self) -> None:
        waiter, self._window_opened = self._window_opened, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self, stream: _Stream, code: grpc.StatusCode, message: str) -> None:
        """End the call with trailers (a trailers-only response when nothing was sent yet)."""
        if self._streams.pop(stream.id, None) is None:
            return  # reset by the client, or the connection is gone
        block = _status_block(code, message)
        if not stream.headers_sent:
            block = _RESPONSE_HEADERS + block
        self._write(_frame(HEADERS, END_HEADERS | END_STREAM, stream.id, block))

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

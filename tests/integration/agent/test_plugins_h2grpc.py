"""`agent.plugins.h2grpc`: the device-plugin gRPC server, against two independent clients.

- grpcio (gRPC C core, the same HTTP/2 stack family as the kubelet's grpc-go client in behaviour
  that matters here: connection preface, SETTINGS, BDP pings, flow control, trailers-only);
- `h2` as a strict raw HTTP/2 client, to check framing, error handling and limits frame by frame.
Everything runs over unix sockets in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import hypothesis
import hypothesis.strategies
import pytest

from agent.plugins import errors as plugin_errors
from agent.plugins import h2grpc, serving
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins.h2grpc import Method, RpcError, UnixGrpcServer
from agent.plugins.plugin import DevicePlugin, PublishedDevices

ECHO = "/test.Service/Echo"
WATCH = "/test.Service/Watch"
FAIL = "/test.Service/Fail"
CRASH = "/test.Service/Crash"
SLOW = "/test.Service/Slow"
LONGEST_INSTANCE = "c" * 56 + "-8120fe"  # 63 characters: a Configuration name at its label limit


class Service:
    """Allocate-shaped echo service: the response carries the request's device IDs as env keys."""

    def __init__(self) -> None:
        self.updates: asyncio.Queue[int] = asyncio.Queue()
        self.watch_closed = asyncio.Event()
        self.slow_cancelled = asyncio.Event()

    async def echo(self, request: pb.AllocateRequest) -> pb.AllocateResponse:
        return pb.AllocateResponse(container_responses=[
            pb.ContainerAllocateResponse(envs={i: "x" for i in c.devicesIDs}) for c in request.container_requests])

    async def watch(self, request: pb.Empty) -> AsyncIterator[pb.ListAndWatchResponse]:
        try:
            while True:
                count = await self.updates.get()
                yield pb.ListAndWatchResponse(devices=[pb.Device(ID=f"d-{i}", health="Healthy")
                                                       for i in range(count)])
        finally:
            self.watch_closed.set()

    async def fail(self, request: pb.Empty) -> pb.Empty:
        raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, "slot akri-x-0 is held by node-b: 100% ünïcode")

    async def crash(self, request: pb.Empty) -> pb.Empty:
        raise ValueError("boom")

    async def slow(self, request: pb.Empty) -> pb.Empty:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.slow_cancelled.set()
            raise
        return pb.Empty()



METHODS = {ECHO: Method(Service.echo, pb.AllocateRequest), WATCH: Method(Service.watch, pb.Empty, streaming=True),
           FAIL: Method(Service.fail, pb.Empty), CRASH: Method(Service.crash, pb.Empty),
           SLOW: Method(Service.slow, pb.Empty)}


@pytest.fixture
def directory() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="h2g", dir="/tmp")  # short: unix socket paths are limited to 107 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def served(directory: str) -> AsyncIterator[tuple[Service, UnixGrpcServer]]:
    service = Service()
    server = UnixGrpcServer(os.path.join(directory, "p.sock"), METHODS, service)
    await server.start()
    yield service, server
    await server.stop()


@pytest.fixture
async def channel(served: tuple[Service, UnixGrpcServer]) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"unix://{served[1].path}", options=(("grpc.enable_http_proxy", 0),)) as ch:
        yield ch


def unary(channel: grpc.aio.Channel, path: str, response: type) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response.FromString)


def allocate(*ids: str) -> pb.AllocateRequest:
    return pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devicesIDs=list(ids))])


# -- grpcio client --------------------------------------------------------------------------------


async def test_unary_call_round_trips(channel: grpc.aio.Channel) -> None:
    response = await unary(channel, ECHO, pb.AllocateResponse)(allocate("a-0", "a-1"), timeout=5)
    assert dict(response.container_responses[0].envs) == {"a-0": "x", "a-1": "x"}


async def test_many_calls_on_one_connection_keep_the_windows_open(channel: grpc.aio.Channel) -> None:
    """2 MiB of requests and responses over one connection: far beyond the 64 KiB initial windows,
    so it passes only if received bytes are credited back and sent bytes respect the client's windows."""
    call = unary(channel, ECHO, pb.AllocateResponse)
    ids = [f"device-{i:05d}" for i in range(1000)]  # ~20 KiB each way per call
    for _ in range(100):
        response = await call(allocate(*ids), timeout=5)
        assert len(response.container_responses[0].envs) == 1000


async def test_large_messages_are_split_into_frames_and_flow_controlled(channel: grpc.aio.Channel) -> None:
    ids = [f"{i:08d}" * 8 for i in range(20_000)]  # ~1.4 MiB request, a bigger response
    response = await unary(channel, ECHO, pb.AllocateResponse)(allocate(*ids), timeout=10)
    assert len(response.container_responses[0].envs) == 20_000


async def test_server_streaming_sends_every_update(served: tuple[Service, UnixGrpcServer],
                                                   channel: grpc.aio.Channel) -> None:
    service, _ = served
    stream = channel.unary_stream(WATCH, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb.ListAndWatchResponse.FromString)(pb.Empty())
    for count in (1, 3, 0):
        service.updates.put_nowait(count)
        response = await asyncio.wait_for(stream.read(), 5)
        assert [d.ID for d in response.devices] == [f"d-{i}" for i in range(count)]
    stream.cancel()
    await asyncio.wait_for(service.watch_closed.wait(), 5)  # RST_STREAM closed the handler's generator


async def test_rpc_error_gives_code_and_percent_encoded_message(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(channel, FAIL, pb.Empty)(pb.Empty(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == "slot akri-x-0 is held by node-b: 100% ünïcode"


async def test_handler_exception_is_unknown_with_its_message(channel: grpc.aio.Channel,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(channel, CRASH, pb.Empty)(pb.Empty(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert caught.value.details() == "ValueError: boom"
    assert "gRPC call on" in caplog.text and "failed" in caplog.text
    assert (await unary(channel, ECHO, pb.AllocateResponse)(allocate("a-0"), timeout=5)).container_responses


async def test_unknown_method_is_unimplemented(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(channel, "/test.Service/Nope", pb.Empty)(pb.Empty(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "/test.Service/Nope" in caught.value.details()


async def test_client_deadline_cancels_the_handler(served: tuple[Service, UnixGrpcServer],
                                                   channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(channel, SLOW, pb.Empty)(pb.Empty(), timeout=0.2)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(served[0].slow_cancelled.wait(), 5)


async def test_clients_keep_no_header_table_on_our_connections(served: tuple[Service, UnixGrpcServer],
                                                                channel: grpc.aio.Channel) -> None:
    """SETTINGS_HEADER_TABLE_SIZE 0 is honoured: after a few calls the connection holds no header strings."""
    call = unary(channel, ECHO, pb.AllocateResponse)
    for _ in range(3):
        await call(allocate("a-0"), timeout=5)
    [connection] = served[1]._connections
    assert len(connection._decoder.header_table.dynamic_entries) == 0


async def test_concurrent_calls_on_one_connection(channel: grpc.aio.Channel) -> None:
    call = unary(channel, ECHO, pb.AllocateResponse)
    responses = await asyncio.gather(*(call(allocate(f"id-{i}"), timeout=5) for i in range(50)))
    assert [list(r.container_responses[0].envs) for r in responses] == [[f"id-{i}"] for i in range(50)]


async def test_stop_ends_open_streams_and_refuses_new_connections(served: tuple[Service, UnixGrpcServer],
                                                                  channel: grpc.aio.Channel) -> None:
    service, server = served
    stream = channel.unary_stream(WATCH, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb.ListAndWatchResponse.FromString)(pb.Empty())
    service.updates.put_nowait(1)
    await asyncio.wait_for(stream.read(), 5)
    await server.stop()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(stream.read(), 5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    await asyncio.wait_for(service.watch_closed.wait(), 5)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_unix_connection(server.path)


# -- raw HTTP/2 (h2 as a strict client) ------------------------------------------------------------


class RawClient:
    """An `h2` client connection to the server: send frames, collect events."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.flush()

    @classmethod
    async def connect(cls, path: str) -> RawClient:
        return cls(*await asyncio.open_unix_connection(path))

    def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())

    async def events(self, until: type, timeout: float = 5) -> list[h2.events.Event]:
        """Read until an event of type `until` arrives (or the connection closes)."""
        seen: list[h2.events.Event] = []
        async with asyncio.timeout(timeout):
            while not any(isinstance(e, until) for e in seen):
                data = await self.reader.read(65536)
                if not data:
                    break
                seen.extend(self.h2.receive_data(data))
                self.flush()
        return seen

    def request(self, path: str, body: bytes, *, content_type: str = "application/grpc", end: bool = True) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                         (":authority", "localhost"), ("content-type", content_type),
                                         ("te", "trailers")])
        if body or end:
            self.h2.send_data(stream_id, body, end_stream=end)
        self.flush()
        return stream_id

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):  # the server may have closed first (GOAWAY tests)
            await self.writer.wait_closed()


def framed(message: bytes, *, compressed: bool = False) -> bytes:
    return bytes([int(compressed)]) + len(message).to_bytes(4, "big") + message


def headers_of(events: list[h2.events.Event], kind: type) -> dict[str, str]:
    found = [dict(e.headers) for e in events if isinstance(e, kind)]
    assert found, f"no {kind.__name__} in {events}"
    return found[-1]


@pytest.fixture
async def raw(served: tuple[Service, UnixGrpcServer]) -> AsyncIterator[RawClient]:
    client = await RawClient.connect(served[1].path)
    yield client
    await client.close()


async def test_raw_unary_call_has_headers_data_and_trailers(raw: RawClient) -> None:
    raw.request(ECHO, framed(allocate("a-0").SerializeToString()))
    events = await raw.events(h2.events.StreamEnded)
    assert headers_of(events, h2.events.ResponseReceived) == {":status": "200", "content-type": "application/grpc"}
    body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    assert pb.AllocateResponse.FromString(body[5:]).container_responses[0].envs == {"a-0": "x"}
    assert headers_of(events, h2.events.TrailersReceived) == {"grpc-status": "0"}


async def test_settings_are_acknowledged_and_pings_answered(raw: RawClient) -> None:
    raw.h2.ping(b"12345678")
    raw.flush()
    events = await raw.events(h2.events.PingAckReceived)
    assert any(isinstance(e, h2.events.SettingsAcknowledged) for e in events)
    assert [e.ping_data for e in events if isinstance(e, h2.events.PingAckReceived)] == [b"12345678"]
    remote = raw.h2.remote_settings
    assert remote.max_concurrent_streams == h2grpc.MAX_CONCURRENT_STREAMS


async def test_non_grpc_content_type_is_415(raw: RawClient) -> None:
    raw.request(ECHO, b"{}", content_type="application/json")
    events = await raw.events(h2.events.StreamEnded)
    assert headers_of(events, h2.events.ResponseReceived)[":status"] == "415"


@pytest.mark.parametrize(("body", "code", "detail"), [
    (framed(b"", compressed=True), grpc.StatusCode.UNIMPLEMENTED, "compressed"),
    (b"\x00\x00\x00\x00\x09abc", grpc.StatusCode.INTERNAL, "one length-prefixed request message, got 8 bytes"),
    (b"", grpc.StatusCode.INTERNAL, "got 0 bytes"),
    (framed(b"\xff\xff\xff"), grpc.StatusCode.INTERNAL, "cannot parse the request as AllocateRequest"),
])
async def test_bad_request_messages_get_a_status_naming_the_problem(
        raw: RawClient, body: bytes, code: grpc.StatusCode, detail: str) -> None:
    raw.request(ECHO, body)
    events = await raw.events(h2.events.StreamEnded)
    trailers = headers_of(events, h2.events.ResponseReceived)  # trailers-only response
    assert trailers["grpc-status"] == str(code.value[0])
    assert detail in trailers["grpc-message"]


async def test_oversized_request_is_resource_exhausted(raw: RawClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h2grpc, "MAX_MESSAGE_BYTES", 1000)
    raw.request(ECHO, framed(b"\x00" * 2000))
    events = await raw.events(h2.events.StreamEnded)
    assert headers_of(events, h2.events.ResponseReceived)["grpc-status"] == str(
        grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])
    raw.request(ECHO, framed(allocate("a-0").SerializeToString()))  # the connection is still usable
    events = await raw.events(h2.events.TrailersReceived)
    assert headers_of(events, h2.events.TrailersReceived) == {"grpc-status": "0"}


async def test_streams_beyond_the_limit_are_refused(raw: RawClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h2grpc, "MAX_CONCURRENT_STREAMS", 2)
    first, second = raw.request(SLOW, framed(b"")), raw.request(SLOW, framed(b""))
    third = raw.request(SLOW, framed(b""))
    events = await raw.events(h2.events.StreamReset)
    assert [(e.stream_id, e.error_code) for e in events if isinstance(e, h2.events.StreamReset)] == [
        (third, h2.errors.ErrorCodes.REFUSED_STREAM)]
    assert first != second


async def test_protocol_violation_answers_goaway_and_closes(served: tuple[Service, UnixGrpcServer]) -> None:
    reader, writer = await asyncio.open_unix_connection(served[1].path)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)  # read() to EOF: the server closed
    writer.close()
    frames = []
    while data:
        length = int.from_bytes(data[:3], "big")
        frames.append((data[3], data[9:9 + length]))
        data = data[9 + length:]
    assert frames[0][0] == h2grpc.SETTINGS
    assert frames[-1][0] == h2grpc.GOAWAY
    assert int.from_bytes(frames[-1][1][4:8], "big") == h2grpc.PROTOCOL_ERROR
    assert b"preface" in frames[-1][1][8:]


async def test_oversized_frame_is_a_frame_size_error(raw: RawClient) -> None:
    raw.writer.write((h2grpc.MAX_FRAME_SIZE + 1).to_bytes(3, "big") + bytes([h2grpc.DATA, 0]) + (1).to_bytes(4, "big"))
    events = await raw.events(h2.events.ConnectionTerminated)
    terminated = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert terminated[0].error_code == h2.errors.ErrorCodes.FRAME_SIZE_ERROR


async def test_large_response_waits_for_the_clients_window(served: tuple[Service, UnixGrpcServer],
                                                          raw: RawClient) -> None:
    """The h2 client does not credit data back unless told: the server must stop at its window."""
    served[0].updates.put_nowait(10_000)  # one ~200 KiB ListAndWatch response
    stream_id = raw.request(WATCH, framed(b""))
    events: list[h2.events.Event] = []
    received = 0
    async with asyncio.timeout(5):
        while received < 65_535:
            data = await raw.reader.read(65536)
            for event in raw.h2.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    received += event.flow_controlled_length
                events.append(event)
            raw.flush()
    with pytest.raises(TimeoutError):  # nothing more may arrive: both windows are spent
        await asyncio.wait_for(raw.reader.read(65536), 0.3)
    assert received == 65_535
    assert not any(isinstance(e, h2.events.StreamEnded) for e in events)
    raw.h2.increment_flow_control_window(10_000_000)
    raw.h2.increment_flow_control_window(10_000_000, stream_id=stream_id)
    raw.flush()
    body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    while len(body) < 5 or len(body) < 5 + int.from_bytes(body[1:5], "big"):
        body += b"".join(e.data for e in await raw.events(h2.events.DataReceived) if isinstance(e, h2.events.DataReceived))
    assert len(pb.ListAndWatchResponse.FromString(body[5:]).devices) == 10_000


# -- arbitrary input -------------------------------------------------------------------------------


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


frames = hypothesis.strategies.builds(
    lambda kind, flags, stream, payload: len(payload).to_bytes(3, "big") + bytes([kind, flags])
    + stream.to_bytes(4, "big") + payload,
    hypothesis.strategies.integers(0, 11), hypothesis.strategies.integers(0, 255),
    hypothesis.strategies.sampled_from([0, 1, 2, 3, 2**31 - 1]), hypothesis.strategies.binary(max_size=40))


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(hypothesis.strategies.lists(frames, max_size=12))
def test_arbitrary_frames_never_raise_out_of_the_protocol(chunks: list[bytes]) -> None:
    """Whatever a client sends after the preface, the connection answers (possibly GOAWAY) and never
    lets an exception escape into the event loop."""
    async def feed() -> None:
        server = UnixGrpcServer("/nonexistent/p.sock", METHODS, Service())
        connection = h2grpc._Connection(server)
        transport = RecordingTransport()
        connection.connection_made(transport)
        connection.data_received(h2grpc.PREFACE)
        for chunk in chunks:
            connection.data_received(chunk)
        connection.connection_lost(None)
        await asyncio.sleep(0)
        assert transport.written.startswith(h2grpc._SERVER_SETTINGS)

    asyncio.run(feed())


async def test_a_long_status_message_is_cut_to_fit_one_headers_frame(raw: RawClient,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A 20,000-character non-ASCII message would need a 100 KiB HEADERS frame; the strict h2
    client rejects any frame over its 16,384-byte maximum."""
    async def fail(service: Service, request: pb.Empty) -> pb.Empty:
        raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, "ü" * 20_000)
    monkeypatch.setattr(Service, "fail", fail)
    monkeypatch.setitem(METHODS, FAIL, Method(fail, pb.Empty))
    raw.request(FAIL, framed(b""))
    events = await raw.events(h2.events.StreamEnded)
    trailers = headers_of(events, h2.events.ResponseReceived)
    message = urllib.parse.unquote(trailers["grpc-message"])
    assert message == "ü" * (h2grpc.MAX_STATUS_MESSAGE_CHARS - 1) + "…"


# -- socket paths --------------------------------------------------------------------------------


async def test_a_cut_name_binds_in_a_deep_directory() -> None:
    with tempfile.TemporaryDirectory(prefix="k" * 40, dir="/tmp") as root:
        directory = os.path.join(root, "device-plugins")
        os.makedirs(directory)
        uncut = os.path.join(directory, f"{LONGEST_INSTANCE}-1796539912-99999.sock")
        assert len(uncut) > serving.SOCKET_PATH_MAX_BYTES  # Akri's name would not bind here
        path = os.path.join(directory, serving.socket_file_name(LONGEST_INSTANCE, 1796539912, 99_999,
                                                                directory=directory))
        server = UnixGrpcServer(path, {}, object())
        await server.start()
        try:
            assert os.path.exists(path)
        finally:
            await server.stop()


# -- grpc-go, the kubelet's gRPC library ------------------------------------------------------------

GO_CLIENT_SOURCE = Path(__file__).resolve().parents[2] / "fakes" / "grpc_go_client.go"
GO_PACKAGES = "Debian packages golang-go and golang-google-grpc-dev (`make test` installs them when root)"


@pytest.fixture(scope="module")
def grpc_go_client(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`tests/fakes/grpc_go_client.go` built against Debian's grpc-go; skips when that cannot be done."""
    if shutil.which("go") is None:
        pytest.skip(f"no Go toolchain: install {GO_PACKAGES}")
    out = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(out / "cache"),
           "GOFLAGS": ""}
    built = subprocess.run(["go", "build", "-o", str(out / "client"), str(GO_CLIENT_SOURCE)], env=env,
                           capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        pytest.skip(f"cannot build the grpc-go client ({built.stderr.strip()[:200]}): install {GO_PACKAGES}")
    return str(out / "client")


async def go_call(client: str, socket_path: str, *args: str, stdin: bytes | None = None) -> list[str]:
    """Run the grpc-go client (see its header) while this event loop keeps serving; its output lines."""
    process = await asyncio.create_subprocess_exec(client, socket_path, *args, stdin=asyncio.subprocess.PIPE,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(stdin), 30)
    assert process.returncode == 0, err.decode()
    return out.decode().splitlines()


async def test_grpc_go_unary_calls_with_large_messages(grpc_go_client: str,
                                                       served: tuple[Service, UnixGrpcServer]) -> None:
    """~1.4 MiB each way: grpc-go's BDP pings, window updates and frame sizes against ours."""
    ids = [f"{i:08d}" * 8 for i in range(20_000)]
    [line] = await go_call(grpc_go_client, served[1].path, "unary", ECHO, "-",
                           stdin=allocate(*ids).SerializeToString().hex().encode())
    kind, payload = line.split(" ", 1)
    assert kind == "ok"
    assert len(pb.AllocateResponse.FromString(bytes.fromhex(payload)).container_responses[0].envs) == 20_000


async def test_grpc_go_streams_updates_and_reads_statuses(grpc_go_client: str,
                                                          served: tuple[Service, UnixGrpcServer]) -> None:
    service, server = served
    for count in (1, 10_000, 0):  # the middle one (~200 KiB) is bigger than grpc-go's initial windows
        service.updates.put_nowait(count)
    lines = await go_call(grpc_go_client, server.path, "stream", WATCH, "", "3")
    assert [len(pb.ListAndWatchResponse.FromString(bytes.fromhex(line.partition(" ")[2])).devices)
            for line in lines[:3]] == [1, 10_000, 0]
    assert lines[3] == "done"
    assert await go_call(grpc_go_client, server.path, "unary", FAIL, "") == [
        f"error {grpc.StatusCode.FAILED_PRECONDITION.value[0]} slot akri-x-0 is held by node-b: 100% ünïcode"]
    [unknown] = await go_call(grpc_go_client, server.path, "unary", "/test.Service/Nope", "")
    assert unknown.startswith(f"error {grpc.StatusCode.UNIMPLEMENTED.value[0]} unknown method /test.Service/Nope")


class OneSlotPlugin(DevicePlugin):
    """A device plugin with slots `akri-x-0` (Healthy) and `akri-x-1` (Unhealthy); Allocate of
    `akri-x-0` answers an env var, anything else is refused with NOT_FOUND."""

    name, resource_name = "akri-x", "akri.sh/akri-x"

    def __init__(self) -> None:
        self.published = PublishedDevices((("akri-x-0", "Healthy"), ("akri-x-1", "Unhealthy")))

    async def allocate(self, container_requests: Sequence[Sequence[str]]) -> list[pb.ContainerAllocateResponse]:
        if any(ids != ["akri-x-0"] for ids in container_requests):
            raise plugin_errors.UnknownDevice(f"no slot {container_requests} in akri.sh/akri-x")
        return [pb.ContainerAllocateResponse(envs={"DEVICE": "x"}) for _ in container_requests]


async def test_grpc_go_talks_to_the_device_plugin_service_as_the_kubelet_does(grpc_go_client: str,
                                                                             directory: str) -> None:
    plugin = OneSlotPlugin()
    server = UnixGrpcServer(os.path.join(directory, "akri-x.sock"), serving.DEVICE_PLUGIN_METHODS,
                            serving.DevicePluginServicer(plugin))
    await server.start()
    try:
        path = server.path
        [options] = await go_call(grpc_go_client, path, "unary", "/v1beta1.DevicePlugin/GetDevicePluginOptions", "")
        assert options == "ok "  # both options false: an empty message
        watch = asyncio.create_task(go_call(grpc_go_client, path, "stream", "/v1beta1.DevicePlugin/ListAndWatch",
                                            "", "2"))
        await asyncio.sleep(0.5)
        plugin.published.publish((("akri-x-0", "Healthy"), ("akri-x-1", "Healthy")))
        first, second, done = await watch
        assert [[(d.ID, d.health) for d in pb.ListAndWatchResponse.FromString(
            bytes.fromhex(line.partition(" ")[2])).devices] for line in (first, second)] == [
            [("akri-x-0", "Healthy"), ("akri-x-1", "Unhealthy")], [("akri-x-0", "Healthy"), ("akri-x-1", "Healthy")]]
        assert done == "done"
        request = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devicesIDs=["akri-x-0"])] * 2)
        [allocated] = await go_call(grpc_go_client, path, "unary", "/v1beta1.DevicePlugin/Allocate",
                                    request.SerializeToString().hex())
        response = pb.AllocateResponse.FromString(bytes.fromhex(allocated.partition(" ")[2]))
        assert [dict(c.envs) for c in response.container_responses] == [{"DEVICE": "x"}] * 2
        refused = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devicesIDs=["akri-x-9"])])
        [error] = await go_call(grpc_go_client, path, "unary", "/v1beta1.DevicePlugin/Allocate",
                                refused.SerializeToString().hex())
        assert error.startswith(f"error {grpc.StatusCode.NOT_FOUND.value[0]} no slot [['akri-x-9']]")
    finally:
        await server.stop()


async def test_window_update_of_zero_on_a_stream_resets_only_that_stream(served: tuple[Service, UnixGrpcServer],
                                                                        raw: RawClient) -> None:
    stream_id = raw.request(SLOW, framed(b""))
    await asyncio.sleep(0.1)
    raw.writer.write(_window_update(stream_id, 0))
    events = await raw.events(h2.events.StreamReset)
    [reset] = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert (reset.stream_id, reset.error_code) == (stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)
    await asyncio.wait_for(served[0].slow_cancelled.wait(), 5)
    raw.request(ECHO, framed(allocate("a-0").SerializeToString()))  # the connection carries on
    events = await raw.events(h2.events.TrailersReceived)
    assert headers_of(events, h2.events.TrailersReceived) == {"grpc-status": "0"}


async def test_window_update_of_zero_on_the_connection_is_a_protocol_error(raw: RawClient) -> None:
    raw.writer.write(_window_update(0, 0))
    events = await raw.events(h2.events.ConnectionTerminated)
    [terminated] = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert terminated.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR


def _window_update(stream_id: int, increment: int) -> bytes:
    return (4).to_bytes(3, "big") + bytes([h2grpc.WINDOW_UPDATE, 0]) + stream_id.to_bytes(4, "big") + \
        increment.to_bytes(4, "big")


@pytest.mark.parametrize(("frame", "error"), [
    (bytes([0, 0, 3, h2grpc.RST_STREAM, 0, 0, 0, 0, 1, 0, 0, 0]), h2.errors.ErrorCodes.FRAME_SIZE_ERROR),
    (bytes([0, 0, 4, h2grpc.RST_STREAM, 0, 0, 0, 0, 0, 0, 0, 0, 8]), h2.errors.ErrorCodes.PROTOCOL_ERROR),
    (bytes([0, 0, 2, h2grpc.HEADERS, h2grpc.END_HEADERS | h2grpc.PRIORITY_FLAG, 0, 0, 0, 1, 0, 0]),
     h2.errors.ErrorCodes.FRAME_SIZE_ERROR),
    (bytes([0, 0, 0, h2grpc.DATA, 0, 0, 0, 0, 0]), h2.errors.ErrorCodes.PROTOCOL_ERROR),
])
async def test_malformed_frames_end_the_connection_with_their_error_code(raw: RawClient, frame: bytes,
                                                                         error: int) -> None:
    raw.writer.write(frame)
    events = await raw.events(h2.events.ConnectionTerminated)
    [terminated] = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert terminated.error_code == error

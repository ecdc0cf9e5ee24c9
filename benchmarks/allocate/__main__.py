"""Device-plugin benchmarks (DESIGN.md §5): `python -m benchmarks.allocate`. Not a test.

1. Allocate latency over a unix socket against an empty unary call (`GetDevicePluginOptions`) on
   the same grpc.aio server, interleaved, p50/p99 and their ratios (target ≤ 1.5×):
   - "held": Allocate of a slot this node already holds (the kubelet's per-container call);
   - "claim": Allocate that claims a free slot through a read-modify-write on an in-memory
     Instance store (no HTTP, so it measures the plugin's own cost, not the API server's); the
     slot is released (untimed) before the next request.
2. Agent RSS with N Instances (default 1,000, target ≤ 79 MiB): a child process runs the real
   `PluginManager` over an in-memory Instance store with N Instances spread over four
   Configurations, serving every plugin on its own real gRPC server and registering it with a
   stand-in kubelet (run by this parent process). The child reports VmRSS/VmHWM from
   /proc/self/status twice: once every plugin is registered, and again once the stand-in kubelet
   has opened a `ListAndWatch` stream to every plugin and received its device list — what a real
   kubelet does right after each registration, and the number the target is judged on (each
   kubelet connection costs the agent's gRPC core ~40 KiB). The child runs with
   MALLOC_ARENA_MAX=2 like the DaemonSet (unless the variable is already set). It imports what the
   agent's plugin manager imports (grpc, protobuf, the kubernetes client); the Configuration and
   Node controllers, their Instance caches and embedded discovery handlers are not loaded, so a
   whole agent uses more.
Request and Instance counts are bounded by the command-line flags; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from agent.devices.store import DeviceRecord, DeviceStore
from agent.discovery.handler import Device
from agent.kube import errors as kube_errors
from agent.kube import watching
from agent.plugins import kubelet
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins._pb import pluginapi_pb2_grpc as pb_grpc
from agent.plugins.claiming import SlotClaimer
from agent.plugins.instance_plugin import InstancePlugin
from agent.plugins.manager import PluginManager
from agent.plugins.serving import SERVER_OPTIONS, DevicePluginServicer, service_handler
from agent.plugins.settings import PluginSettings
from akri_api import model

RSS_TARGET_KIB = 79 * 1024
RATIO_TARGET = 1.5
CONFIGURATIONS = ("akri-debug-echo", "akri-udev", "akri-onvif", "akri-opcua")


class MemoryStore:
    """Minimal in-memory `InstanceStore` with resourceVersion preconditions."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self._objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self._version = 0
        for obj in self._objects.values():
            self._bump(obj)

    def _bump(self, obj: dict[str, Any]) -> None:
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self._objects.get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    async def replace(self, instance: dict[str, Any]) -> dict[str, Any]:
        key = (instance["metadata"]["namespace"], instance["metadata"]["name"])
        if instance["metadata"].get("resourceVersion") != self._objects[key]["metadata"]["resourceVersion"]:
            raise kube_errors.Conflict(409, "Conflict", "stale")
        stored = copy.deepcopy(instance)
        self._bump(stored)
        self._objects[key] = stored
        return copy.deepcopy(stored)

    async def watch(self) -> AsyncIterator[watching.WatchEvent]:
        for obj in list(self._objects.values()):
            yield watching.WatchEvent(watching.ADDED, copy.deepcopy(obj))
        yield watching.WatchEvent(watching.LISTED)
        await asyncio.Event().wait()


class NoPods:
    """Pod-resources source with no pods (nothing to reclaim)."""

    async def held_devices(self) -> frozenset[tuple[str, str]]:
        return frozenset()


def instance_dict(configuration: str, index: int, capacity: int) -> dict[str, Any]:
    name = f"{configuration}-{index:06x}"
    return {"apiVersion": "akri.sh/v0", "kind": "Instance",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"configurationName": configuration, "cdiName": f"akri.sh/{configuration}={index:06x}",
                     "capacity": capacity, "brokerProperties": {"DESCRIPTION": name}, "shared": True,
                     "nodes": ["node-a"], "deviceUsage": {}}}


def device_store(objects: list[dict[str, Any]]) -> DeviceStore:
    store = DeviceStore()
    for obj in objects:
        spec = obj["spec"]
        name = obj["metadata"]["name"]
        store.put(spec["cdiName"], DeviceRecord(Device(name, {"DESCRIPTION": name}), {"RESOLUTION_WIDTH": "800"}))
    return store


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM in KiB from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


# -- agent RSS (child process) -------------------------------------------------------------------


async def agent_child(directory: str, instances: int) -> None:
    baseline = proc_status()["VmRSS"]
    objects = [instance_dict(CONFIGURATIONS[i % len(CONFIGURATIONS)], i, 2) for i in range(instances)]
    settings = PluginSettings(device_plugins_directory=directory,
                              pod_resources_socket=os.path.join(directory, "pr.sock"), reclaim_interval_seconds=3600)
    manager = PluginManager(kube=MemoryStore(objects), devices=device_store(objects), node="node-a",
                            settings=settings, pod_resources=NoPods())
    del objects
    task = asyncio.create_task(manager.run())
    await asyncio.wait_for(manager.started.wait(), 60)
    plugins = [*manager.instance_plugins.values(), *manager.configuration_plugins.values()]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        servers = [manager.server_of(p) for p in plugins]
        if all(s is not None and s.registered for s in servers):
            break
        await asyncio.sleep(0.2)
    else:
        raise SystemExit("plugins did not all register within 120 s")
    gc.collect()
    await asyncio.sleep(1.0)
    registered = proc_status()
    print(json.dumps({"registered": registered["VmRSS"]}), flush=True)
    # The parent's kubelet now opens one ListAndWatch per plugin and says "go" when all answered.
    line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline), 300)
    if line.strip() != "go":
        raise SystemExit("the stand-in kubelet did not watch every plugin")
    gc.collect()
    await asyncio.sleep(1.0)
    result = {"plugins": len(plugins), "sockets": len(os.listdir(directory)) - 1, "baseline": baseline,
              "registered": registered["VmRSS"], **proc_status()}
    print(json.dumps(result), flush=True)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class AcceptAll(pb_grpc.RegistrationServicer):
    """Stand-in kubelet: accepts every registration; `watch_all` then opens a ListAndWatch stream
    to every registered endpoint, as the kubelet's device manager does, and keeps it open."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.endpoints: list[str] = []
        self.watching = 0
        self._channels: list[grpc.aio.Channel] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def count(self) -> int:
        return len(self.endpoints)

    async def Register(self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext) -> pb.Empty:  # noqa: N802
        self.endpoints.append(request.endpoint)
        return pb.Empty()

    async def watch_all(self, timeout: float) -> None:
        """One ListAndWatch per endpoint; returns once each sent its first list (SystemExit after timeout)."""
        for endpoint in self.endpoints:
            channel = grpc.aio.insecure_channel(kubelet.unix_target(os.path.join(self.directory, endpoint)),
                                                options=kubelet.CHANNEL_OPTIONS)
            self._channels.append(channel)
            self._tasks.append(asyncio.create_task(self._watch(pb_grpc.DevicePluginStub(channel))))
        deadline = time.monotonic() + timeout
        while self.watching < len(self.endpoints):
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.watching}/{len(self.endpoints)} plugins answered ListAndWatch")
            await asyncio.sleep(0.2)

    async def _watch(self, stub: pb_grpc.DevicePluginStub) -> None:
        first = True
        async for _response in stub.ListAndWatch(pb.Empty()):
            if first:
                self.watching += 1
                first = False

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for channel in self._channels:
            await channel.close()


async def measure_rss(instances: int) -> dict[str, int]:
    directory = tempfile.mkdtemp(prefix="k", dir="/tmp")
    registration = AcceptAll(directory)
    server = grpc.aio.server()
    pb_grpc.add_RegistrationServicer_to_server(registration, server)
    server.add_insecure_port(kubelet.unix_target(os.path.join(directory, "kubelet.sock")))
    await server.start()
    try:
        environment = {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.allocate", "--agent-child", directory, "--instances", str(instances),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=environment)
        assert child.stdout is not None
        first = await asyncio.wait_for(child.stdout.readline(), 300)  # {"registered": ...}: all registered
        if not first:
            raise SystemExit(f"agent child failed with exit code {await child.wait()}")
        await registration.watch_all(120)
        out, _ = await asyncio.wait_for(child.communicate(b"go\n"), 300)
        if child.returncode != 0:
            raise SystemExit(f"agent child failed with exit code {child.returncode}")
        result: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
        result["registrations"] = registration.count
        result["watched"] = registration.watching
        return result
    finally:
        await registration.close()
        await server.stop(None)
        shutil.rmtree(directory, ignore_errors=True)


# -- Allocate latency -------------------------------------------------------------------------------


def allocate_request(device_id: str) -> pb.AllocateRequest:
    return pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devicesIDs=[device_id])])


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure_latency(requests: int) -> dict[str, dict[str, float]]:
    directory = tempfile.mkdtemp(prefix="k", dir="/tmp")
    held = instance_dict("akri-debug-echo", 1, 1)
    claimable = instance_dict("akri-debug-echo", 2, 2)
    store = MemoryStore([held, claimable])
    devices = device_store([held, claimable])
    claimer = SlotClaimer(store=store)
    plugins = {}
    for obj in (held, claimable):
        current = await store.get("default", obj["metadata"]["name"])
        plugins[obj["metadata"]["name"]] = InstancePlugin(model.Instance.from_dict(current), node="node-a",
                                                          claimer=claimer, devices=devices)
    servers, stubs, channels = [], {}, []
    try:
        for name, plugin in plugins.items():
            path = os.path.join(directory, f"{name}.sock")
            server = grpc.aio.server(options=SERVER_OPTIONS)
            server.add_generic_rpc_handlers((service_handler(DevicePluginServicer(plugin)),))
            server.add_insecure_port(kubelet.unix_target(path))
            await server.start()
            servers.append(server)
            channel = grpc.aio.insecure_channel(kubelet.unix_target(path), options=kubelet.CHANNEL_OPTIONS)
            channels.append(channel)
            stubs[name] = pb_grpc.DevicePluginStub(channel)
        held_name, claim_name = held["metadata"]["name"], claimable["metadata"]["name"]
        held_request = allocate_request(f"{held_name}-0")
        await stubs[held_name].Allocate(held_request)  # claim once; later calls find it held
        samples: dict[str, list[float]] = {"empty": [], "held": [], "claim": []}
        clock = time.perf_counter
        warmup = min(200, requests // 5)
        for i in range(requests + warmup):
            t0 = clock()
            await stubs[held_name].GetDevicePluginOptions(pb.Empty())
            t1 = clock()
            await stubs[held_name].Allocate(held_request)
            t2 = clock()
            if i >= warmup:
                samples["empty"].append(t1 - t0)
                samples["held"].append(t2 - t1)
        claim_plugin = plugins[claim_name]
        claim_request = allocate_request(f"{claim_name}-0")
        for _ in range(requests):
            t1 = clock()
            await stubs[claim_name].Allocate(claim_request)
            samples["claim"].append(clock() - t1)
            for claim in claim_plugin.claims():  # untimed: free the slot for the next round
                await claim_plugin.release(claim)
        return {kind: {"p50_us": percentile(v, 50) * 1e6, "p99_us": percentile(v, 99) * 1e6,
                       "mean_us": statistics.fmean(v) * 1e6, "n": len(v)} for kind, v in samples.items()}
    finally:
        for channel in channels:
            await channel.close()
        for server in servers:
            await server.stop(None)
        shutil.rmtree(directory, ignore_errors=True)


async def main(args: argparse.Namespace) -> int:
    if args.agent_child:
        await agent_child(args.agent_child, args.instances)
        return 0
    ok = True
    latency = await measure_latency(args.requests)
    empty = latency["empty"]
    print(f"Allocate latency over UDS ({empty['n']} interleaved requests each)")
    print(f"  {'call':<34}{'p50 µs':>10}{'p99 µs':>10}{'p50 ×':>8}{'p99 ×':>8}")
    for kind, label in (("empty", "GetDevicePluginOptions (empty)"), ("held", "Allocate, slot already held"),
                        ("claim", "Allocate, new claim (in-memory API)")):
        row = latency[kind]
        r50, r99 = row["p50_us"] / empty["p50_us"], row["p99_us"] / empty["p99_us"]
        print(f"  {label:<34}{row['p50_us']:>10.1f}{row['p99_us']:>10.1f}{r50:>8.2f}{r99:>8.2f}")
    held = latency["held"]
    held_ok = held["p50_us"] <= RATIO_TARGET * empty["p50_us"] and held["p99_us"] <= RATIO_TARGET * empty["p99_us"]
    ok &= held_ok
    print(f"  target Allocate ≤ {RATIO_TARGET}× empty call (held slot, p50 and p99): {'met' if held_ok else 'NOT met'}")
    if args.instances:
        rss = await measure_rss(args.instances)
        rss_ok = rss["VmRSS"] <= RSS_TARGET_KIB
        ok &= rss_ok
        print(f"Agent RSS with {args.instances} Instances: {rss['plugins']} plugins, {rss['sockets']} sockets, "
              f"{rss['registrations']} registrations, {rss['watched']} kubelet ListAndWatch streams "
              f"(real gRPC servers)")
        plugins = max(rss["plugins"], 1)
        print(f"  after imports {rss['baseline'] / 1024:.1f} MiB; all registered {rss['registered'] / 1024:.1f} MiB "
              f"({(rss['registered'] - rss['baseline']) / plugins:.1f} KiB per plugin)")
        print(f"  with the kubelet watching: VmRSS {rss['VmRSS'] / 1024:.1f} MiB, VmHWM {rss['VmHWM'] / 1024:.1f} MiB "
              f"({(rss['VmRSS'] - rss['baseline']) / plugins:.1f} KiB per plugin); "
              f"target ≤ {RSS_TARGET_KIB // 1024} MiB: {'met' if rss_ok else 'NOT met'}")
    return 0 if ok else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.allocate", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per kind (10..20000)")
    parser.add_argument("--instances", type=int, default=1000, help="Instances for the RSS run (0 skips it; max 5000)")
    parser.add_argument("--agent-child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 10 <= args.requests <= 20000:
        parser.error(f"--requests {args.requests} must be between 10 and 20000")
    if not 0 <= args.instances <= 5000:
        parser.error(f"--instances {args.instances} must be between 0 and 5000")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))

"""Allocate latency benchmark (DESIGN.md §5): `python -m benchmarks.allocate`. Not a test.

Allocate over a unix socket against an empty unary call (`GetDevicePluginOptions`) on the same
device-plugin server (`agent.plugins.h2grpc`, as the agent serves it) from a grpcio client,
interleaved, p50/p99 and their ratios (target ≤ 1.5×):
- "held": Allocate of a slot this node already holds (the kubelet's per-container call);
- "claim": Allocate that claims a free slot through a read-modify-write on an in-memory Instance
  store (no HTTP, so it measures the plugin's own cost, not the API server's); the slot is
  released (untimed) before the next request.
The agent's memory with 1,000 Instances is measured by `benchmarks.agent_rss`.
Request counts are bounded by the command-line flags.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

import grpc

from agent.devices.store import DeviceRecord, DeviceStore
from agent.discovery.handler import Device
from agent.kube import errors as kube_errors
from agent.plugins import kubelet
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins._pb import pluginapi_pb2_grpc as pb_grpc
from agent.plugins.claiming import SlotClaimer
from agent.plugins.h2grpc import UnixGrpcServer
from agent.plugins.instance_plugin import InstancePlugin
from agent.plugins.serving import DEVICE_PLUGIN_METHODS, DevicePluginServicer
from akri_api import model

RATIO_TARGET = 1.5


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
            server = UnixGrpcServer(path, DEVICE_PLUGIN_METHODS, DevicePluginServicer(plugin))
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
            await server.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def main(args: argparse.Namespace) -> int:
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
    return 0 if ok else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.allocate", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per kind (10..20000)")
    args = parser.parse_args(argv)
    if not 10 <= args.requests <= 20000:
        parser.error(f"--requests {args.requests} must be between 10 and 20000")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))

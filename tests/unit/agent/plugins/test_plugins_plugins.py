"""Instance- and Configuration-level plugin state and Allocate, without gRPC (akri-contract.md §2.5)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from agent.devices.store import DeviceRecord, DeviceStore
from agent.discovery.handler import Device
from agent.plugins import errors
from agent.plugins.claiming import SlotClaimer
from agent.plugins.configuration_plugin import ConfigurationPlugin
from agent.plugins.instance_plugin import AllocationClock, InstancePlugin
from agent.plugins.slots import Claim
from agent.plugins.virtual_slots import VirtualSlot
from akri_api import model
from tests.fakes.fake_kubelet import MemoryInstances, instance_object

CFG = "akri-debug-echo-foo"
A = "akri-debug-echo-foo-8120fe"
B = "akri-debug-echo-foo-a19705"
NODE = "node-a"


def cdi(name: str) -> str:
    return f"akri.sh/{CFG}={name.rpartition('-')[2]}"


def record(i: int) -> DeviceRecord:
    return DeviceRecord(Device(f"foo{i}", {"DEBUG_ECHO_DESCRIPTION": f"foo{i}"}), {"RESOLUTION_WIDTH": "800"})


def setup_node(*names: str, capacity: int = 2, usage: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
               unknown: tuple[str, ...] = ()):
    """(store, plugins by name, device store, allocation clock); Instances named in `unknown` have
    no device record (discovery has not reported them)."""
    store = MemoryInstances()
    devices = DeviceStore()
    clock = AllocationClock()
    claimer = SlotClaimer(store=store, rng=lambda: 0.0)
    plugins = {}
    for i, name in enumerate(names):
        obj = store.put(instance_object(name, configuration=CFG, nodes=[NODE, "node-b"], capacity=capacity,
                                        device_usage=usage if i == 0 else None))
        if name not in unknown:
            devices.put(cdi(name), record(i))
        plugins[name] = InstancePlugin(model.Instance.from_dict(obj), node=NODE, claimer=claimer, devices=devices,
                                       clock=clock)
    return store, plugins, devices, clock


def setup(*names: str, capacity: int = 2, usage: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    store, plugins, _devices, _clock = setup_node(*names, capacity=capacity, usage=usage)
    return store, plugins


def refresh(store: MemoryInstances, plugin: InstancePlugin) -> None:
    plugin.apply(model.Instance.from_dict(store.peek("default", plugin.name)))


def test_initial_devices_and_resource_name() -> None:
    _store, plugins = setup(A, usage={f"{A}-1": "node-b"})
    plugin = plugins[A]
    assert plugin.resource_name == f"akri.sh/{A}"
    assert plugin.published.current == ((f"{A}-0", "Healthy"), (f"{A}-1", "Unhealthy"))


def test_capacity_change_grows_and_shrinks_device_list() -> None:
    store, plugins = setup(A)
    plugin = plugins[A]
    obj = store.peek("default", A)
    obj["spec"]["capacity"] = 3
    store.put(obj)
    refresh(store, plugin)
    assert [i for i, _ in plugin.published.current] == [f"{A}-0", f"{A}-1", f"{A}-2"]
    obj["spec"]["capacity"] = 1
    store.put(obj)
    refresh(store, plugin)
    assert [i for i, _ in plugin.published.current] == [f"{A}-0"]


def test_key_removed_by_other_node_becomes_free() -> None:
    store, plugins = setup(A, usage={f"{A}-0": "node-b"})
    plugin = plugins[A]
    assert plugin.published.current[0] == (f"{A}-0", "Unhealthy")
    obj = store.peek("default", A)
    obj["spec"]["deviceUsage"] = {}
    store.put(obj)
    refresh(store, plugin)
    assert plugin.published.current[0] == (f"{A}-0", "Healthy")


def test_stale_view_is_ignored() -> None:
    store, plugins = setup(A)
    plugin = plugins[A]
    old = model.Instance.from_dict(store.peek("default", A))
    obj = store.peek("default", A)
    obj["spec"]["deviceUsage"] = {f"{A}-0": "node-b"}
    refresh_obj = store.put(obj)
    plugin.apply(model.Instance.from_dict(refresh_obj))
    plugin.apply(old)
    assert plugin.table.usages[0] == model.SlotUsage.instance_use("node-b")


async def test_allocate_claims_and_answers_per_container() -> None:
    store, plugins = setup(A)
    responses = await plugins[A].allocate([[f"{A}-0"], [f"{A}-0"]])  # initContainer + main
    assert len(responses) == 2
    assert dict(responses[0].envs)["DEBUG_ECHO_DESCRIPTION_8120FE"] == "foo0"
    assert dict(responses[1].envs)["RESOLUTION_WIDTH_8120FE"] == "800"
    assert store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-0": NODE}
    assert plugins[A].published.current[0] == (f"{A}-0", "Healthy")


async def test_two_slots_in_one_container_get_one_response() -> None:
    """`akri.sh/<instance>: 2` in one container: both slots claimed, one ContainerAllocateResponse
    (Akri answers once per device; the kubelet expects one per container request)."""
    store, plugins = setup(A)
    responses = await plugins[A].allocate([[f"{A}-0", f"{A}-1"]])
    assert len(responses) == 1
    assert dict(responses[0].envs)["DEBUG_ECHO_DESCRIPTION_8120FE"] == "foo0"
    assert store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-0": NODE, f"{A}-1": NODE}


async def test_allocate_failure_rolls_back_claims_of_the_call() -> None:
    store, plugins = setup(A, usage={f"{A}-1": "node-b"})
    with pytest.raises(errors.SlotUnavailable, match=f"slot {A}-1 is held by 'node-b'"):
        await plugins[A].allocate([[f"{A}-0", f"{A}-1"]])
    assert store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-1": "node-b"}


async def test_allocate_unknown_id() -> None:
    _store, plugins = setup(A)
    with pytest.raises(errors.UnknownDevice, match=f"{A}-9"):
        await plugins[A].allocate([[f"{A}-9"]])


def test_configuration_plugin_offers_one_free_vdev_per_instance() -> None:
    _store, plugins = setup(A, B, capacity=1)
    cfg = ConfigurationPlugin("default", CFG, node=NODE)
    assert cfg.published.current == ()
    cfg.attach(plugins[A])
    cfg.attach(plugins[B])
    assert cfg.resource_name == f"akri.sh/{CFG}"
    assert cfg.published.current == ((f"{CFG}-0", "Healthy"), (f"{CFG}-1", "Healthy"))
    assert not cfg.detach(A)
    assert cfg.published.current == ((f"{CFG}-1", "Healthy"),)
    assert cfg.detach(B)
    assert cfg.published.current == ()


async def test_configuration_allocate_claims_first_free_slot_and_merges_per_container() -> None:
    store, plugins = setup(A, B, capacity=2, usage={f"{A}-0": "node-b"})
    cfg = ConfigurationPlugin("default", CFG, node=NODE)
    cfg.attach(plugins[A])
    cfg.attach(plugins[B])
    vdevs = [device_id for device_id, _ in cfg.published.current]
    responses = await cfg.allocate([vdevs])
    assert len(responses) == 1  # quirk #5 fixed: one response per container
    envs = dict(responses[0].envs)
    assert envs["DEBUG_ECHO_DESCRIPTION_8120FE"] == "foo0" and envs["DEBUG_ECHO_DESCRIPTION_A19705"] == "foo1"
    assert store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-0": "node-b", f"{A}-1": f"C:{vdevs[0]}:{NODE}"}
    assert store.peek("default", B)["spec"]["deviceUsage"] == {f"{B}-0": f"C:{vdevs[1]}:{NODE}"}
    table = cfg.table
    assert table[vdevs[0]] == VirtualSlot(A, 1) and table[vdevs[1]] == VirtualSlot(B, 0)
    assert sum(1 for entry in table.values() if entry.is_free) == 1  # B still has slot 1
    # the instance-level slot taken through the configuration is Unhealthy there
    assert dict(plugins[A].published.current)[f"{A}-1"] == "Unhealthy"
    # re-Allocate of a held vdev (next container) succeeds without a new claim
    again = await cfg.allocate([[vdevs[0]]])
    assert dict(again[0].envs)["DEBUG_ECHO_DESCRIPTION"] == "foo0"
    assert len(store.peek("default", A)["spec"]["deviceUsage"]) == 2


async def test_configuration_allocate_unknown_vdev() -> None:
    _store, plugins = setup(A)
    cfg = ConfigurationPlugin("default", CFG, node=NODE)
    cfg.attach(plugins[A])
    with pytest.raises(errors.UnknownDevice, match=f"virtual device {CFG}-7"):
        await cfg.allocate([[f"{CFG}-7"]])


async def test_configuration_allocate_rolls_back_on_failure() -> None:
    store, plugins = setup(A, capacity=1)
    cfg = ConfigurationPlugin("default", CFG, node=NODE)
    cfg.attach(plugins[A])
    with pytest.raises(errors.UnknownDevice):
        await cfg.allocate([[f"{CFG}-0", f"{CFG}-5"]])
    assert store.peek("default", A)["spec"]["deviceUsage"] == {}
    assert cfg.table == {f"{CFG}-0": VirtualSlot(A)}


# -- devices discovery has not (re-)reported: Unhealthy, not offered, Allocate refused -------------------


async def test_unknown_device_is_unhealthy_and_refused_until_discovery_reports_it() -> None:
    """After a node reboot the Instance lists this node before discovery re-reports the device:
    no slot may be admitted (the broker would start without its device nodes)."""
    store, plugins, devices, _clock = setup_node(A, usage={f"{A}-1": NODE}, unknown=(A,))
    plugin = plugins[A]
    assert not plugin.device_known
    assert plugin.published.current == ((f"{A}-0", "Unhealthy"), (f"{A}-1", "Unhealthy"))
    for ids in ([f"{A}-0"], [f"{A}-1"]):  # a new claim and a re-grant of a held slot
        with pytest.raises(errors.DeviceUnavailable, match=f"device {ids[0]}: akri.sh/{CFG}=8120fe") as info:
            await plugin.allocate([ids])
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-1": NODE}  # nothing claimed
    devices.put(cdi(A), record(0))
    plugin.refresh_device()
    assert plugin.published.current == ((f"{A}-0", "Healthy"), (f"{A}-1", "Healthy"))
    response = (await plugin.allocate([[f"{A}-0"]]))[0]
    assert dict(response.envs)["DEBUG_ECHO_DESCRIPTION_8120FE"] == "foo0"
    devices.remove(cdi(A))  # the device vanished
    plugin.refresh_device()
    assert plugin.published.current == ((f"{A}-0", "Unhealthy"), (f"{A}-1", "Unhealthy"))


async def test_configuration_plugin_offers_no_vdev_of_an_unknown_device() -> None:
    store, plugins, devices, _clock = setup_node(A, B, capacity=1, unknown=(A,))
    cfg = ConfigurationPlugin("default", CFG, node=NODE)
    cfg.attach(plugins[A])
    cfg.attach(plugins[B])
    hidden = next(vdev for vdev, entry in cfg.table.items() if entry.instance == A)
    shown = next(vdev for vdev, entry in cfg.table.items() if entry.instance == B)
    assert cfg.published.current == ((shown, "Healthy"),)
    with pytest.raises(errors.DeviceUnavailable, match=f"device {hidden}: akri.sh/{CFG}=8120fe"):
        await cfg.allocate([[hidden]])
    assert store.peek("default", A)["spec"]["deviceUsage"] == {}
    devices.put(cdi(A), record(0))
    plugins[A].refresh_device()  # tells the Configuration plugin (listener)
    assert dict(cfg.published.current) == {hidden: "Healthy", shown: "Healthy"}
    response = (await cfg.allocate([[hidden]]))[0]
    assert dict(response.envs)["DEBUG_ECHO_DESCRIPTION_8120FE"] == "foo0"
    assert store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-0": f"C:{hidden}:{NODE}"}


# -- grants are stamped: the reclaimer keeps a slot granted after its pod-resources listing ---------------


async def test_regrant_of_held_slot_is_stamped_and_kept_by_reclaim() -> None:
    store, plugins, _devices, clock = setup_node(A, usage={f"{A}-0": NODE})
    plugin = plugins[A]
    claim = Claim(f"{A}-0", model.SlotUsage.instance_use(NODE), f"{A}-0")
    since = clock.now()  # the reclaimer lists pod resources: no pod holds A-0
    await plugin.allocate([[f"{A}-0"]])  # the kubelet hands the stale slot to a new pod
    assert clock.now() > since
    assert not await plugin.reclaim(claim, since)
    assert store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-0": NODE}
    assert await plugin.reclaim(claim, clock.now())  # a later round that saw no pod frees it
    assert store.peek("default", A)["spec"]["deviceUsage"] == {}


async def test_regrant_of_held_vdev_is_stamped_and_kept_by_reclaim() -> None:
    store, plugins, _devices, clock = setup_node(A, capacity=1)
    cfg = ConfigurationPlugin("default", CFG, node=NODE)
    cfg.attach(plugins[A])
    await cfg.allocate([[f"{CFG}-0"]])
    claim = Claim(f"{A}-0", model.SlotUsage.configuration_use(f"{CFG}-0", NODE), f"{CFG}-0")
    assert plugins[A].claims() == (claim,)
    since = clock.now()
    await cfg.allocate([[f"{CFG}-0"]])  # re-granted (another pod, or the next container)
    assert not await plugins[A].reclaim(claim, since)
    assert store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-0": f"C:{CFG}-0:{NODE}"}


async def test_reclaim_waits_for_an_allocate_in_flight() -> None:
    """The reclaimer's release and a grant of the same slot are serialised by the plugin lock."""
    store, plugins, _devices, clock = setup_node(A, usage={f"{A}-0": NODE})
    plugin = plugins[A]
    claim = Claim(f"{A}-0", model.SlotUsage.instance_use(NODE), f"{A}-0")
    since = clock.now()
    allocate = asyncio.ensure_future(plugin.allocate([[f"{A}-0"]]))
    await asyncio.sleep(0)  # the Allocate has the lock
    kept = not await plugin.reclaim(claim, since)
    await allocate
    assert kept and store.peek("default", A)["spec"]["deviceUsage"] == {f"{A}-0": NODE}

"""Kubelet device plugins of the agent: one per Instance on this node and one per Configuration,
slot bookkeeping in `Instance.spec.deviceUsage`, slot reclaim, kubelet-restart handling
(akri-contract.md §2.5, §2.6; DESIGN.md §2.2).

The composition root builds `PluginSettings.from_env(environ)` (the environment it was started
with) and runs `PluginManager(kube=..., devices=..., node=..., settings=...).run()`. Modules: `settings`,
`errors`, `slots` / `virtual_slots` (pure slot tables), `claiming` (deviceUsage read-modify-write),
`allocating` (ContainerAllocateResponse), `instance_plugin`, `configuration_plugin`, `plugin`
(their common interface), `serving` (gRPC server + registration per plugin), `kubelet` (kubelet
clients), `reclaiming`, `instances` (the Instance API protocol), `manager`.
"""

from agent.plugins.manager import PluginManager
from agent.plugins.settings import PluginSettings

__all__ = ["PluginManager", "PluginSettings"]

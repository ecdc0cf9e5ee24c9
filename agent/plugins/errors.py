"""Device-plugin errors, each carrying the gRPC status the kubelet sees when it reaches an RPC.

    PluginError
    ├── SettingsError          invalid KUBELET_* / reclaim environment variables (startup only)
    ├── AllocationError        an Allocate the plugin refuses; `.code` is the gRPC status code
    │   ├── UnknownDevice      the device ID is not one this plugin advertises (NOT_FOUND)
    │   ├── SlotUnavailable    the slot is held by another node or another use (FAILED_PRECONDITION)
    │   ├── DeviceUnavailable  discovery on this node has not reported the device (yet) (UNAVAILABLE)
    │   └── ClaimFailed        the claim could not be recorded in the Instance (UNKNOWN)
    ├── RegistrationFailed     the kubelet's Registration/Register call failed
    └── PodResourcesUnavailable  the kubelet's PodResourcesLister/List call failed

Messages are one line and name the device ID / slot and the offending value, because the
kubelet copies them into the pod's `UnexpectedAdmissionError` event.
"""

from __future__ import annotations

import grpc

__all__ = ["PluginError", "SettingsError", "AllocationError", "UnknownDevice", "SlotUnavailable",
           "DeviceUnavailable", "ClaimFailed", "RegistrationFailed", "PodResourcesUnavailable"]


class PluginError(Exception):
    """Base of every device-plugin failure."""


class SettingsError(PluginError, ValueError):
    """One or more plugin settings from the environment are invalid; the message names each
    variable and its value."""


class AllocationError(PluginError):
    """An Allocate request the plugin refuses; the servicer aborts the RPC with `code`."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN


class UnknownDevice(AllocationError):
    """A device ID this plugin does not advertise (wrong instance, slot >= capacity, not a virtual
    device of this Configuration)."""

    code = grpc.StatusCode.NOT_FOUND


class SlotUnavailable(AllocationError):
    """The slot is held by another node, or by this node through the other resource kind."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class DeviceUnavailable(AllocationError):
    """The device behind the Instance is not in this node's device store: discovery has not
    (re-)reported it since the agent started, or it vanished. Granting the slot would start the
    broker without its device nodes and mounts, so the Allocate is refused instead."""

    code = grpc.StatusCode.UNAVAILABLE


class ClaimFailed(AllocationError):
    """The claim could not be written to `Instance.spec.deviceUsage` (API error, conflicts left
    after every retry, Instance gone)."""

    code = grpc.StatusCode.UNKNOWN


class RegistrationFailed(PluginError):
    """`/v1beta1.Registration/Register` on the kubelet socket failed (unreachable or refused)."""


class PodResourcesUnavailable(PluginError):
    """`/v1.PodResourcesLister/List` on the kubelet pod-resources socket failed."""

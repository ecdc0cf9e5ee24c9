"""Akri's discovery handlers, each usable embedded in the agent and as a standalone process.

Modules (one handler each, class named by `DiscoveryHandler.name`): `debug_echo` (debugEcho,
akri-contract.md §5.2), `udev` (§5.3), `onvif` (§5.4), `opcua` (§5.5); `filtering` (discoveryDetails
decoding and Akri's FilterList, §5.1). Private helpers: `_udev_*`, `_onvif_*`, `_console` (the
console-script glue). `agent.discovery.embedded` finds the classes by handler name.
"""

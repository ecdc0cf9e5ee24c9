"""The agent's reconcilers: Configurations → Instances (`configurations`), vanished Nodes out of
Instances (`nodes`), with the pure Instance edits (`instances`) and the status condition
(`conditions`) they write."""

from agent.controllers.configurations import ConfigurationController, ConfigurationSettings
from agent.controllers.nodes import NodeController, NodeSettings

__all__ = ["ConfigurationController", "ConfigurationSettings", "NodeController", "NodeSettings"]

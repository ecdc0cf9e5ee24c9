"""Akri's metric names are exported with the values the agent sets (contract §2.7)."""

from __future__ import annotations

from agent.metrics import AgentMetrics


def test_akri_metric_names_and_values() -> None:
    metrics = AgentMetrics()
    metrics.set_instance_count("cfg", shared=True, count=2)
    metrics.discovery_result("debugEcho", "Success")
    metrics.discovery_result("debugEcho", "Success")
    metrics.discovery_result("udev", "Fail")
    metrics.discovery_response_time("cfg", 0.3)
    text = metrics.render().decode()
    assert 'akri_instance_count{configuration="cfg",is_shared="true"} 2.0' in text
    assert 'akri_discovery_response_result{discovery_handler_name="debugEcho",result="Success"} 2.0' in text
    assert 'akri_discovery_response_result{discovery_handler_name="udev",result="Fail"} 1.0' in text
    assert 'akri_discovery_response_time_bucket{configuration="cfg",le="0.5"} 1.0' in text
    assert 'akri_discovery_response_time_bucket{configuration="cfg",le="0.25"} 0.0' in text
    assert "process_cpu_seconds_total" in text


def test_forgetting_a_configuration_drops_its_series() -> None:
    metrics = AgentMetrics(process_metrics=False)
    metrics.set_instance_count("gone", shared=False, count=1)
    metrics.forget_configuration("gone")
    assert 'configuration="gone"' not in metrics.render().decode()


def test_two_agents_have_separate_registries() -> None:
    first, second = AgentMetrics(), AgentMetrics()
    first.set_instance_count("cfg", shared=True, count=5)
    assert 'configuration="cfg"' not in second.render().decode()

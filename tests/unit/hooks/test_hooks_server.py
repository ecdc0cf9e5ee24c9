"""HooksConfig from env, `akri-hooks` flag parsing and the gunicorn settings it produces."""

from __future__ import annotations

import dataclasses

import pytest

from hooks import server
from hooks.config import HooksConfig
from hooks.errors import ConfigError


def test_defaults():
    config = HooksConfig.from_env({})
    assert config == HooksConfig()
    assert config.bind == "0.0.0.0:8080"
    assert config.https is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.bind = "x"  # type: ignore[misc]


def test_from_env_reads_every_field():
    config = HooksConfig.from_env(
        {
            "AKRI_HOOKS_BIND": "127.0.0.1:9000",
            "AKRI_HOOKS_WORKERS": "3",
            "AKRI_HOOKS_THREADS": "8",
            "AKRI_HOOKS_TIMEOUT_SECONDS": "5",
            "AKRI_HOOKS_CERTFILE": "/tls/tls.crt",
            "AKRI_HOOKS_KEYFILE": "/tls/tls.key",
            "AKRI_HOOKS_MAX_BODY_BYTES": "1000",
            "AKRI_HOOKS_LOG_LEVEL": "debug",
            "UNRELATED": "x",
        }
    )
    assert config == HooksConfig(
        bind="127.0.0.1:9000",
        workers=3,
        threads=8,
        timeout_seconds=5,
        certfile="/tls/tls.crt",
        keyfile="/tls/tls.key",
        max_body_bytes=1000,
        log_level="debug",
    )
    assert config.https is True


def test_invalid_env_names_every_bad_variable():
    with pytest.raises(ConfigError) as caught:
        HooksConfig.from_env({"AKRI_HOOKS_WORKERS": "many", "AKRI_HOOKS_THREADS": "lots"})
    assert "AKRI_HOOKS_WORKERS='many'" in str(caught.value)
    assert "AKRI_HOOKS_THREADS='lots'" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        HooksConfig.from_env(
            {
                "AKRI_HOOKS_BIND": "nowhere",
                "AKRI_HOOKS_WORKERS": "0",
                "AKRI_HOOKS_CERTFILE": "/c",
                "AKRI_HOOKS_LOG_LEVEL": "loud",
            }
        )
    message = str(caught.value)
    for fragment in (
        "AKRI_HOOKS_BIND/--bind='nowhere'",
        "AKRI_HOOKS_WORKERS/--workers=0",
        "--keyfile must be given together",
        "AKRI_HOOKS_LOG_LEVEL/--log-level='loud'",
    ):
        assert fragment in message


def test_flags_override_env(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    config = server.parse_args(
        ["--bind", "127.0.0.1:8443", "--threads", "2", "--certfile", str(cert), "--keyfile", str(key)],
        {"AKRI_HOOKS_BIND": "0.0.0.0:1", "AKRI_HOOKS_WORKERS": "2"},
    )
    assert (config.bind, config.workers, config.threads, config.https) == ("127.0.0.1:8443", 2, 2, True)


def test_missing_certificate_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--certfile .*no such file"):
        server.parse_args(["--certfile", str(tmp_path / "nope"), "--keyfile", str(tmp_path / "nope")], {})


def test_main_exits_2_on_bad_configuration(capsys, monkeypatch):
    monkeypatch.setenv("AKRI_HOOKS_WORKERS", "zero")
    assert server.main([]) == 2
    assert "AKRI_HOOKS_WORKERS='zero'" in capsys.readouterr().err


def test_gunicorn_settings_come_from_conf_module_and_config(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    config = HooksConfig(
        bind="127.0.0.1:8443",
        workers=2,
        threads=3,
        timeout_seconds=7,
        certfile=str(cert),
        keyfile=str(key),
        log_level="warning",
    )
    app = server.HooksServer(config, app_factory=lambda c: "the app")
    cfg = app.cfg
    assert cfg.bind == ["127.0.0.1:8443"]
    assert (cfg.workers, cfg.threads, cfg.timeout, cfg.loglevel) == (2, 3, 7, "warning")
    assert cfg.worker_class_str == "gthread"
    assert cfg.keepalive == 120
    assert cfg.control_socket_disable is True
    assert (cfg.certfile, cfg.keyfile) == (str(cert), str(key))
    assert app.load() == "the app"


def test_plain_http_server_has_no_tls_settings():
    cfg = server.HooksServer(HooksConfig(), app_factory=lambda c: None).cfg
    assert cfg.certfile is None and not cfg.is_ssl

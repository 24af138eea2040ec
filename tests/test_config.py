"""Settings resolve in one place: default < file < environment < flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightwarden.config import SETTINGS, load_settings
from weightwarden.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(env={"WARDEN_HOME": str(tmp_path)})
    assert s.home == tmp_path
    assert s.db_url == f"sqlite:///{tmp_path / 'ledger.db'}"
    assert s.n_ctx == 2048 and s.threads == 0


def test_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[warden]\nn_ctx = 1024\ntimeout = 5\nreport_dir = "from-file"\n')
    env = {"WARDEN_HOME": str(tmp_path), "WARDEN_N_CTX": "512"}
    s = load_settings(env=env)  # HOME/config.toml is found on its own
    assert s.timeout == 5.0 and s.report_dir == Path("from-file")
    assert s.n_ctx == 512  # environment beats the file
    s = load_settings(env=env, overrides={"n_ctx": 256, "report_dir": None})
    assert s.n_ctx == 256  # a flag beats the environment
    assert s.report_dir == Path("from-file")  # a flag not given changes nothing


def test_db_forms(tmp_path: Path) -> None:
    assert load_settings(env={}, overrides={"db": str(tmp_path / "x.db")}).db_url == f"sqlite:///{tmp_path / 'x.db'}"
    url = "postgresql+psycopg://u@localhost/warden"
    assert load_settings(env={"WARDEN_DB": url}).db_url == url


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[warden]\nbogus = 1\n", "unknown setting"),
        ("[warden]\nn_ctx = 'many'\n", "not a int"),
        ("[warden", "cannot read"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, words: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_settings(config_file=cfg, env={})


def test_bad_environment_value() -> None:
    with pytest.raises(ConfigError, match="WARDEN_THREADS"):
        load_settings(env={"WARDEN_THREADS": "lots"})


def test_every_setting_has_help() -> None:
    assert all(s.help and s.env.startswith("WARDEN_") for s in SETTINGS)

"""Settings as data: default < file < environment < CLI flag, resolved in one place."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from weightwarden.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "WARDEN_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("home", "", "Folder for the ledger, the hash cache and other state (default: the user data dir)."),
    Setting(
        "db", "", "Ledger URL: a SQLite path or sqlite:///..., or postgresql+psycopg://... (default: HOME/ledger.db)."
    ),
    Setting("report_dir", "warden-report", "Folder under which `warden audit` writes report folders."),
    Setting("threads", 0, "CPU threads for llama.cpp and torch (0: all cores)."),
    Setting("n_ctx", 2048, "Context window used when loading a GGUF model with llama.cpp."),
    Setting("timeout", 60.0, "Seconds to wait for a remote server before giving up."),
    Setting(
        "watermark_key",
        "",
        "Secret watermark key, at least 16 characters (set it in the environment, not in a shared config file).",
    ),
    Setting("watermark_key_file", "", "File holding the watermark key (default: HOME/watermark.key, if it exists)."),
    Setting("watermark_gamma", 0.25, "Watermark: fraction of the vocabulary on the green list for each context."),
    Setting("watermark_delta", 2.0, "Watermark: logit bias added to green tokens while generating."),
    Setting("watermark_context", 1, "Watermark: how many previous tokens seed the green list."),
    Setting("watermark_fpr", 0.001, "Watermark detection: false-positive rate at which text is called watermarked."),
    Setting("power_watts", 15.0, "Cost: the machine's power draw while generating, in watts (a laptop CPU: 15-45)."),
    Setting("usd_per_kwh", 0.30, "Cost: the price of electricity, USD per kWh."),
    Setting("usd_per_hour", 0.0, "Cost: a rented machine's hourly price in USD; when above 0 it replaces power."),
    Setting("ui_session_hours", 8.0, "Dashboard: hours a sign-in lasts before the key must be entered again."),
)


@dataclass(frozen=True)
class Settings:
    home: Path
    db: str
    report_dir: Path
    threads: int
    n_ctx: int
    timeout: float
    watermark_key: str = field(repr=False)  # a secret: never printed, logged or stored
    watermark_key_file: str
    watermark_gamma: float
    watermark_delta: float
    watermark_context: int
    watermark_fpr: float
    power_watts: float
    usd_per_kwh: float
    usd_per_hour: float
    ui_session_hours: float

    @property
    def usd_per_second(self) -> float:
        """What a second of this machine costs: the rented price, else its power at the electricity price."""
        if self.usd_per_hour > 0:
            return self.usd_per_hour / 3600
        return self.power_watts / 1000 * self.usd_per_kwh / 3600

    @property
    def db_url(self) -> str:
        if not self.db:
            return f"sqlite:///{self.home / 'ledger.db'}"
        if "://" in self.db:
            return self.db
        return f"sqlite:///{Path(self.db).expanduser().resolve()}"


def _coerce(setting: Setting, value: Any, source: str) -> Any:
    kind = type(setting.default)
    try:
        if kind is bool:
            return str(value).lower() in ("1", "true", "yes", "on")
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"setting {setting.name!r} from {source} is {value!r}, which is not a {kind.__name__}: fix it or unset it"
        ) from None


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting: default < file < environment < overrides (CLI flags).

    config_file: a TOML file with a [warden] table; by default HOME/config.toml if it exists.
    overrides: values from the command line; None means "not given".
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    by_name = {s.name: s for s in SETTINGS}

    home_hint = (overrides or {}).get("home") or env.get("WARDEN_HOME") or ""
    if config_file is None:
        base = Path(home_hint) if home_hint else Path(platformdirs.user_data_dir("weightwarden"))
        candidate = base / "config.toml"
        config_file = candidate if candidate.exists() else None
    if config_file is not None:
        try:
            data = tomllib.loads(Path(config_file).read_text()).get("warden", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}; fix or remove it") from None
        for key, value in data.items():
            if key not in by_name:
                raise ConfigError(f"unknown setting {key!r} in {config_file}; known: {', '.join(by_name)}")
            values[key] = _coerce(by_name[key], value, str(config_file))
    for s in SETTINGS:
        if s.env in env and env[s.env] != "":
            values[s.name] = _coerce(s, env[s.env], f"${s.env}")
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(by_name[key], value, "the command line")

    home = Path(values["home"]).expanduser() if values["home"] else Path(platformdirs.user_data_dir("weightwarden"))
    kwargs = {f.name: values[f.name] for f in fields(Settings)}
    kwargs["home"] = home
    kwargs["report_dir"] = Path(values["report_dir"])
    return Settings(**kwargs)

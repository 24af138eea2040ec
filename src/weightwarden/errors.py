"""The one exception tree of weightwarden.

    WardenError                 every error a user can cause or fix; exit code 2 in the CLI
    ├── ConfigError             a setting or a config file that cannot be used
    ├── ModelNotFound           a model reference that names nothing on disk
    ├── UnsupportedModel        a reference or a file of a kind we do not run
    ├── CorruptModel            a file that claims a format but breaks its rules
    ├── CapabilityError         a runtime asked for something it cannot do (honestly)
    ├── RemoteError             a remote server that cannot be reached or answers badly
    ├── LedgerError             the ledger cannot be opened, migrated or written
    └── TaskError               an eval task or suite file that cannot be used

Every message says what went wrong and what to do next.
"""

from __future__ import annotations


class WardenError(Exception):
    """Root of every error weightwarden raises on purpose."""

    exit_code = 2


class ConfigError(WardenError):
    """A setting or config file that cannot be used."""


class ModelNotFound(WardenError):
    """A model reference that names nothing that exists."""


class UnsupportedModel(WardenError):
    """A model reference or file of a kind weightwarden does not run."""


class CorruptModel(WardenError):
    """A model file whose bytes break the rules of its own format."""


class CapabilityError(WardenError):
    """A runtime was asked for something it cannot do exactly."""


class RemoteError(WardenError):
    """A remote OpenAI-compatible server that cannot be reached or answers badly."""


class LedgerError(WardenError):
    """The ledger cannot be opened, migrated or written."""


class TaskError(WardenError):
    """An eval task file, its data file or a suite that cannot be used."""

"""The dashboard at /ui: server-rendered pages over the ledger, signed in with a gateway key.

from weightwarden.ui import UiContext, mount_ui
mount_ui(app, UiContext(ledger, keys, gateway=gw))   # a gateway app made with create_app(open_prefixes=("/ui",))
"""

from weightwarden.ui.app import UI_PREFIX, build_ui_router, create_ui_app, mount_ui
from weightwarden.ui.context import UiContext, UiSettings, ui_of

__all__ = ["UI_PREFIX", "UiContext", "UiSettings", "build_ui_router", "create_ui_app", "mount_ui", "ui_of"]

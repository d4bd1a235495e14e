"""Where the app reads its settings: app.py, the pages and the ui/ modules take them from
`app_settings()` (and hand values on to the core), so no page reads them itself.

A module of its own, light to import: app.py draws the first visit's progress (ui/startup.py)
before the core and its models are imported.
"""
from __future__ import annotations

from settings import Settings, get_settings


def app_settings() -> Settings:
    """The app's settings (read once per process: settings.get_settings is cached)."""
    return get_settings()

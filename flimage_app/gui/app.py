"""Application-wide Qt setup: the QApplication, its identity and the settings store.

Settings live in an INI file in the user's configuration folder under
:data:`ORGANIZATION` / :data:`APPLICATION`.  Setting the environment variable
:data:`SETTINGS_ENV` to a file path makes the app use that file instead, which
is how tests keep their settings out of the user's folder.
"""

from __future__ import annotations

import os
import sys

from PyQt6 import QtCore, QtWidgets

ORGANIZATION = "flimage-app"
APPLICATION = "flimage-app"
#: Environment variable naming an INI file that replaces the user's settings.
SETTINGS_ENV = "FLIMAGE_APP_SETTINGS"
#: Number of entries kept in File ▸ Open Recent.
MAX_RECENT_FILES = 10


def make_settings() -> QtCore.QSettings:
    """The app's settings store (INI format; see :data:`SETTINGS_ENV`)."""
    override = os.environ.get(SETTINGS_ENV)
    if override:
        return QtCore.QSettings(override, QtCore.QSettings.Format.IniFormat)
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat,
                            QtCore.QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def settings_list(settings: QtCore.QSettings, key: str) -> list[str]:
    """Read a list of strings; QSettings returns a bare string for one-element INI lists."""
    value = settings.value(key, [])
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(item) for item in value]


def remember_recent(recent: list[str], path: str, limit: int = MAX_RECENT_FILES) -> list[str]:
    """Put `path` first in the recent-files list, without duplicates, at most `limit` long."""
    absolute = os.path.abspath(path)
    return ([absolute] + [item for item in recent if item != absolute])[:limit]


#: Qt messages that say nothing to a user (the offscreen platform's limits)
HARMLESS_QT_MESSAGES = ("does not support propagateSizeHints",)


def _qt_message_handler(mode: QtCore.QtMsgType, context, message: str) -> None:
    if any(text in message for text in HARMLESS_QT_MESSAGES):
        return
    print(message, file=sys.stderr)


def ensure_application(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """Return the running QApplication, creating and naming it if needed."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.qInstallMessageHandler(_qt_message_handler)
        app = QtWidgets.QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    from flimage_app import __version__

    app.setApplicationVersion(__version__)
    return app

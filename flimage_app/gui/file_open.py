"""Files handed to the app by the desktop: "Open with", double-clicks, macOS open events.

A second ``flimage-app FILE`` started while the app runs passes FILE to the
running app through a local socket and exits, so that the files open as new
series in the window the user already has.  On macOS, the Finder delivers
files as ``QFileOpenEvent``; those are caught too.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterable

from PyQt6 import QtCore, QtNetwork, sip

#: how long a starting app waits for a running one to answer [ms]
CONNECT_TIMEOUT_MS = 300


def server_name() -> str:
    """Name of the local socket, one per user so that users never see each other's files."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return f"flimage-app-{user}"


def send_to_running_app(paths: Iterable[str | os.PathLike], name: str | None = None) -> bool:
    """Give `paths` to an app that already runs; True if one took them."""
    paths = [os.path.abspath(path) for path in paths]
    if not paths:
        return False
    socket = QtNetwork.QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
        return False
    socket.write(json.dumps(paths).encode("utf-8") + b"\n")
    sent = socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
    socket.disconnectFromServer()
    return sent


class FileOpenReceiver(QtCore.QObject):
    """Emits :attr:`files_requested` for files from a second launch or a macOS open event."""

    files_requested = QtCore.pyqtSignal(list)

    def __init__(self, parent: QtCore.QObject | None = None, name: str | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self.server = QtNetwork.QLocalServer(self)
        if not self.server.listen(self.name):
            # a socket file left by an app that crashed: no one answered, so take it over
            QtNetwork.QLocalServer.removeServer(self.name)
            self.server.listen(self.name)
        self.server.newConnection.connect(self._accept)
        self._buffers: dict[QtNetwork.QLocalSocket, bytes] = {}

    @property
    def listening(self) -> bool:
        return self.server.isListening()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            self._buffers[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._finish(s))

    def _read(self, socket: QtNetwork.QLocalSocket) -> None:
        if socket not in self._buffers:
            return
        self._buffers[socket] += bytes(socket.readAll())
        if self._buffers[socket].endswith(b"\n"):
            self._finish(socket)

    def _finish(self, socket: QtNetwork.QLocalSocket) -> None:
        # reached from readyRead (message complete) and from disconnected: handle once
        if socket not in self._buffers:
            return
        data = self._buffers.pop(socket)
        if socket.state() == QtNetwork.QLocalSocket.LocalSocketState.ConnectedState:
            data += bytes(socket.readAll())
        socket.readyRead.disconnect()
        socket.disconnected.disconnect()
        # sip.delete, not deleteLater: Qt made this socket, so PyQt would not learn of a
        # deleteLater and would touch the dead object when Python exits (a crash)
        QtCore.QTimer.singleShot(0, lambda: sip.delete(socket))
        if not data.strip():
            return
        try:
            paths = [str(path) for path in json.loads(data.decode("utf-8"))]
        except (ValueError, TypeError):
            return  # not from flimage-app; ignore
        if paths:
            self.files_requested.emit(paths)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        """Catch macOS "open document" events sent to the application."""
        if event.type() == QtCore.QEvent.Type.FileOpen:
            path = event.file()
            if path:
                self.files_requested.emit([path])
                return True
        return super().eventFilter(watched, event)

    def close(self) -> None:
        self.server.close()

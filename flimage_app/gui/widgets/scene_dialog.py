"""The scene chooser: which scene (position, series) of a multi-scene microscope file to open."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6 import QtCore, QtWidgets

from flimage_app.gui.workers import widen_for_title

#: object name of the dialog, for tests and scripts that answer it
SCENE_DIALOG_NAME = "scene-chooser"
#: widest the list of scenes becomes (px); longer lines scroll
MAX_LIST_WIDTH = 720


class SceneDialog(QtWidgets.QDialog):
    """A list of the file's scenes; Open imports the one chosen (double-click does too).

    Parameters
    ----------
    file_name
        The file's name, for the title.
    names
        One entry per scene ("Position 1", …), in the file's order.
    sizes
        What each scene holds ("T=20, C=2, Z=3, 512 x 512 px"), or None.
    """

    def __init__(self, file_name: str, names: Sequence[str],
                 sizes: Sequence[str] | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(SCENE_DIALOG_NAME)
        self.setWindowTitle(f"Open a scene of {file_name}")
        self.list = QtWidgets.QListWidget()
        for number, name in enumerate(names):
            text = f"{number}: {name}"
            if sizes is not None and number < len(sizes):
                text += f"   ({sizes[number]})"
            item = QtWidgets.QListWidgetItem(text)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, number)
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        # each scene on one line (names with their sizes), within a laptop's screen
        self.list.setMinimumWidth(min(self.list.sizeHintForColumn(0) + 40, MAX_LIST_WIDTH))
        label = QtWidgets.QLabel(f"{file_name} holds {len(names)} scenes (positions). "
                                 "Choose the one to open; each opens as its own series.")
        label.setWordWrap(True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Open
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)
        widen_for_title(self)

    def scene(self) -> int:
        """The scene chosen (its index in the file)."""
        item = self.list.currentItem()
        return int(item.data(QtCore.Qt.ItemDataRole.UserRole)) if item is not None else 0


def choose_scene(parent: QtWidgets.QWidget | None, file_name: str, names: Sequence[str],
                 sizes: Sequence[str] | None = None) -> int | None:
    """Ask which scene to open; None when the user cancelled."""
    dialog = SceneDialog(file_name, names, sizes, parent)
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return None
    return dialog.scene()


__all__ = ["SCENE_DIALOG_NAME", "SceneDialog", "choose_scene"]

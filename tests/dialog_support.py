"""Answering the app's modal dialogs in tests as a user would: typing and pressing keys."""

from __future__ import annotations

from PyQt6 import QtCore, QtTest, QtWidgets


class DialogAnswers:
    """Answers the next modal input dialogs, one per :meth:`type_and_press` call, in order.

    Each answer selects the dialog's number field, types `text` and presses Enter
    (accept) or Escape (cancel).  :attr:`seen` records every dialog answered:
    (window title, the dialog's width, its minimum width).
    """

    def __init__(self) -> None:
        self._answers: list[tuple[str, bool]] = []
        self.seen: list[tuple[str, int, int]] = []

    def type_and_press(self, text: str, accept: bool = True) -> None:
        self._answers.append((text, accept))
        if len(self._answers) == 1:
            QtCore.QTimer.singleShot(0, self._answer)

    def _answer(self) -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(dialog, QtWidgets.QInputDialog) or not dialog.isVisible():
            QtCore.QTimer.singleShot(20, self._answer)  # not open yet
            return
        text, accept = self._answers.pop(0)
        self.seen.append((dialog.windowTitle(), dialog.width(), dialog.minimumWidth()))
        field = dialog.findChild(QtWidgets.QAbstractSpinBox)
        field.selectAll()
        QtTest.QTest.keyClicks(field, text)
        QtTest.QTest.keyClick(field, QtCore.Qt.Key.Key_Return if accept
                              else QtCore.Qt.Key.Key_Escape)
        if self._answers:
            QtCore.QTimer.singleShot(0, self._answer)

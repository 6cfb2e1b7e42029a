"""The one question asked before a close or quit would lose work: Save, Discard or Cancel.

The text names, per series, what would be lost (``Document.unsaved_work()``), so
the user decides knowing what is at stake ("demo_bleachcorr: the series itself
…").  :func:`describe_unsaved` builds the text without Qt widgets; tests read it
and answer the real message box (its object name is :data:`PROMPT_NAME`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from PyQt6 import QtWidgets

from flimage_app.gui.document import Document

#: object name of the message box, for tests and scripts that answer it
PROMPT_NAME = "unsaved-work-prompt"


class Choice(enum.Enum):
    """The user's answer."""

    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


def describe_unsaved(documents: Sequence[Document]) -> str:
    """One paragraph per series with unsaved work: its name, then a bullet per kind of work."""
    blocks = []
    for document in documents:
        work = document.unsaved_work()
        if work:
            blocks.append("\n".join([f"{document.name}:", *(f"  • {item}" for item in work)]))
    return "\n\n".join(blocks)


def question_text(documents: Sequence[Document], quitting: bool) -> str:
    """The prompt's first line."""
    count = sum(1 for document in documents if document.unsaved_work())
    if quitting:
        what = "this series" if count == 1 else f"these {count} series"
        return f"Quitting now loses the unsaved work of {what}. Save it first?"
    return "Closing this series loses its unsaved work. Save it first?"


def ask_about_unsaved(parent: QtWidgets.QWidget | None, documents: Sequence[Document],
                      quitting: bool) -> Choice:
    """Ask whether to save the unsaved work of `documents` before closing them.

    Save is the default button; Escape and the window's close button cancel.
    """
    buttons = QtWidgets.QMessageBox.StandardButton
    box = QtWidgets.QMessageBox(parent)
    box.setObjectName(PROMPT_NAME)
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved work")
    box.setText(question_text(documents, quitting))
    box.setInformativeText(describe_unsaved(documents))
    box.setStandardButtons(buttons.Save | buttons.Discard | buttons.Cancel)
    box.setDefaultButton(buttons.Save)
    box.setEscapeButton(buttons.Cancel)
    several = sum(1 for document in documents if document.unsaved_work()) > 1
    box.button(buttons.Save).setText("&Save all…" if several else "&Save…")
    box.button(buttons.Discard).setText("&Discard")
    box.button(buttons.Cancel).setText("Cancel")
    box.exec()
    answer = box.standardButton(box.clickedButton()) if box.clickedButton() else buttons.Cancel
    if answer == buttons.Save:
        return Choice.SAVE
    if answer == buttons.Discard:
        return Choice.DISCARD
    return Choice.CANCEL

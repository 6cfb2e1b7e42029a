"""The main window's menu bar: File (with Export), Edit, View, Frame, Panels, Help.

Every menu and item has a mnemonic (Alt+F, then the underlined letter), given
here or by :func:`assign_mnemonics`, and items with a shortcut list it.  The
actions are attributes of the window (``window.undo_action`` …) so that its
code and the tests can trigger them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.browser.frame_cache import VIEW_MODES
from flimage_app.gui.browser.image_view import COLORMAP_NAMES, VIEW_MODE_LABELS
from flimage_app.gui.browser.series_browser import STEP_ACTIONS
from flimage_app.gui.widgets.dialogs import show_about

log = logging.getLogger(__name__)

STEP_LABELS = {
    "previous": "Previous frame", "next": "Next frame",
    "back_page": "Back 10 frames", "forward_page": "Forward 10 frames",
    "first": "First frame", "last": "Last frame",
}
#: Edit ▸ Redo answers to both conventions (Ctrl+Shift+Z as on Linux and macOS, Ctrl+Y)
REDO_SHORTCUTS = ("Ctrl+Shift+Z", "Ctrl+Y")


def build_menus(window) -> None:
    """Fill `window`'s menu bar (a :class:`~flimage_app.gui.main_window.MainWindow`)."""
    menu_bar = window.menuBar()
    _file_menu(window, menu_bar.addMenu("&File"))
    _edit_menu(window, menu_bar.addMenu("&Edit"))
    _view_menu(window, menu_bar.addMenu("&View"))
    _frame_menu(window, menu_bar.addMenu("F&rame"))
    window.panels_menu = menu_bar.addMenu("&Panels")
    help_menu = menu_bar.addMenu("&Help")
    help_menu.addAction("&Getting started", QtGui.QKeySequence.StandardKey.HelpContents,
                        window.show_getting_started)
    help_menu.addAction("&About flimage-app", lambda: show_about(window))


def _file_menu(window, menu: QtWidgets.QMenu) -> None:
    keys = QtGui.QKeySequence.StandardKey
    window.open_action = menu.addAction("&Open…", keys.Open, window.open_dialog)
    window.open_folder_action = menu.addAction("Open OME-&Zarr folder…",
                                               window.open_folder_dialog)
    window.recent_menu = menu.addMenu("Open &Recent")
    window.demo_action = menu.addAction("Open &demo series", window.open_demo)
    menu.addSeparator()
    window.save_action = menu.addAction("&Save", keys.Save, window.save)
    window.save_as_action = menu.addAction("Save &As…", keys.SaveAs, window.save_as)
    export_menu = menu.addMenu("&Export")
    window.export_menu = export_menu
    exporter = window.exporter
    window.export_actions = {
        "hdf5": export_menu.addAction("&HDF5 copy…", exporter.export_hdf5),
        "tiff": export_menu.addAction("ImageJ &TIFF stack…", QtGui.QKeySequence("Ctrl+E"),
                                      exporter.export_tiff),
        "curves": export_menu.addAction("&Curves as CSV…", exporter.export_curves_csv),
        "report": export_menu.addAction("&Report as CSV…", exporter.export_report_csv),
        "png": export_menu.addAction("Current frame as &PNG…", exporter.export_png),
    }
    for name in ("curves", "report"):
        window.export_actions[name].setStatusTip("Curves and fit report of a "
                                                 "bleach-corrected series")
    window.close_action = menu.addAction("&Close series", keys.Close, window.close_current)
    menu.addSeparator()
    window.quit_action = menu.addAction("&Quit", QtGui.QKeySequence("Ctrl+Q"), window.close)


def _edit_menu(window, menu: QtWidgets.QMenu) -> None:
    window.undo_action = menu.addAction("&Undo", QtGui.QKeySequence.StandardKey.Undo,
                                        window.undo)
    window.redo_action = menu.addAction("&Redo", window.redo)
    window.redo_action.setShortcuts([QtGui.QKeySequence(key) for key in REDO_SHORTCUTS])


def _view_menu(window, menu: QtWidgets.QMenu) -> None:
    window.mode_actions = {}
    mode_group = QtGui.QActionGroup(window)
    for number, mode in enumerate(VIEW_MODES, start=1):
        action = menu.addAction(VIEW_MODE_LABELS[mode])
        action.setCheckable(True)
        action.setShortcut(QtGui.QKeySequence(f"Ctrl+{number}"))
        action.triggered.connect(lambda _checked, m=mode: window.image_view.set_mode(m))
        mode_group.addAction(action)
        window.mode_actions[mode] = action
    window.mode_actions[window.image_view.mode].setChecked(True)
    menu.addSeparator()
    colormap_menu = menu.addMenu("&Colour map")
    colormap_group = QtGui.QActionGroup(window)
    window.colormap_actions = {}
    for name in COLORMAP_NAMES:
        action = colormap_menu.addAction(name)
        action.setCheckable(True)
        action.triggered.connect(lambda _checked, n=name: window.image_view.set_colormap(n))
        colormap_group.addAction(action)
        window.colormap_actions[name] = action
    window.hold_levels_action = menu.addAction("&Hold levels across frames")
    window.hold_levels_action.setCheckable(True)
    window.hold_levels_action.toggled.connect(window.image_view.set_hold_levels)
    menu.addAction("&Auto levels", window.image_view.auto_levels)
    menu.addAction("&Fit image to view", window.image_view.fit_view)


def _frame_menu(window, menu: QtWidgets.QMenu) -> None:
    window.step_actions = {}
    for action_name, key in STEP_ACTIONS.items():
        action = menu.addAction(STEP_LABELS[action_name])
        action.setShortcut(QtGui.QKeySequence(key))
        action.triggered.connect(lambda _checked, a=action_name: window.browser.step(a))
        window.step_actions[action_name] = action
    menu.addSeparator()
    window.play_action = menu.addAction("Play / pause")
    window.play_action.setShortcut(QtGui.QKeySequence("Space"))
    window.play_action.triggered.connect(window.browser.toggle_playing)


def assign_mnemonics(menu: QtWidgets.QMenu, skip: Iterable[QtWidgets.QMenu] = ()) -> None:
    """Give every item of `menu` (and its sub-menus) without a mnemonic one of its own.

    An item gets the first letter of its text, or of a later word, or any
    letter, that no other item of the same menu uses.  The items of the menus
    in `skip` (e.g. recent files, whose texts are paths) are left as they are.
    """
    skip = tuple(skip)
    actions = [action for action in menu.actions() if not action.isSeparator()]
    taken = {_mnemonic(action.text()) for action in actions} - {None}
    for action in actions:
        text = action.text()
        if _mnemonic(text) is None and text:
            letter_at = _free_letter(text, taken)
            if letter_at is not None:
                taken.add(text[letter_at].lower())
                action.setText(text[:letter_at] + "&" + text[letter_at:])
        if action.menu() is not None and action.menu() not in skip:
            assign_mnemonics(action.menu(), skip)


def menu_actions(menu: QtWidgets.QMenu | QtWidgets.QMenuBar) -> Iterator[QtGui.QAction]:
    """Every item of `menu` and of its sub-menus (no separators)."""
    for action in menu.actions():
        if action.isSeparator():
            continue
        yield action
        if action.menu() is not None:
            yield from menu_actions(action.menu())


def claim_menu_shortcuts(window) -> list[str]:
    """Keep the menus' shortcuts working: other window-wide actions lose the same keys.

    Two actions of one window with the same shortcut make Qt ignore the key for
    both ("ambiguous shortcut"); a panel that adds its own Ctrl+Z would silence
    Edit ▸ Undo.  Returns a description of each shortcut taken away (also logged).
    """
    owned = {key.toString(): action for action in menu_actions(window.menuBar())
             for key in action.shortcuts()}
    menu_items = {id(action) for action in owned.values()}
    taken = []
    for action in window.findChildren(QtGui.QAction):
        if id(action) in menu_items or \
                action.shortcutContext() == QtCore.Qt.ShortcutContext.WidgetShortcut:
            continue
        keys = action.shortcuts()
        kept = [key for key in keys if key.toString() not in owned]
        if len(kept) != len(keys):
            for key in keys:
                if key.toString() in owned:
                    owner = type(action.parent()).__name__ if action.parent() else "window"
                    text = (f"{action.text().replace('&', '')!r} of {owner} gives up "
                            f"{key.toString()} to the menu item "
                            f"{owned[key.toString()].text().replace('&', '')!r}")
                    log.warning("Shortcut: %s", text)
                    taken.append(text)
            action.setShortcuts(kept)
    return taken


def _mnemonic(text: str) -> str | None:
    """The mnemonic letter of a menu text ("&Open…" → "o"), or None."""
    index = text.replace("&&", "").find("&")
    stripped = text.replace("&&", "")
    if index < 0 or index + 1 >= len(stripped):
        return None
    return stripped[index + 1].lower()


def _free_letter(text: str, taken: set[str]) -> int | None:
    """Index in `text` of the best letter not in `taken`: word starts first, then any."""
    starts = [index for index, char in enumerate(text)
              if char.isalnum() and (index == 0 or not text[index - 1].isalnum())]
    others = [index for index, char in enumerate(text) if char.isalnum()
              and index not in starts]
    for index in starts + others:
        if text[index].lower() not in taken:
            return index
    return None

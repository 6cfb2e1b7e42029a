"""The main window: open series, the series browser, the image and the side panels.

Layout (left to right): the list of open series above the frame table; the
image with its toolbar and the frame slider; a tab widget of panels
(Metadata, and the background and bleach panels when they are installed).

Panels written elsewhere plug in through :meth:`MainWindow.add_panel`; the
modules listed in :data:`OPTIONAL_PANELS` are added automatically when they
exist.  Their class is constructed as ``PanelClass(main_window)`` and may use:

* ``main_window.image_view`` — :class:`~flimage_app.gui.browser.image_view.ImageView`;
  draw ROIs on ``image_view.view_box`` in pixel coordinates (x = column, y = row);
* ``current_document()``, ``current_series()``, ``current_index()``, ``current_frame()``;
* the signals ``documentChanged(object)`` (Document or None),
  ``frameChanged(int)`` and ``frameShown(object)`` (a
  :class:`~flimage_app.gui.browser.frame_cache.Frame`);
* ``add_series(series, name, temporary_path=path)`` to show a series made in the app
  (e.g. a corrected one): it is unsaved work until saved, and its scratch file
  (:mod:`flimage_app.gui.scratch`) is removed when it closes;
* ``run_task(title, function, on_success)`` for long work with progress and Cancel;
* ``current_document().panel_state`` and ``.history`` for the panel's Qt-free state and
  its undoable steps (Edit ▸ Undo / Redo; see :class:`~flimage_app.gui.document.Document`).

The menus are built by :mod:`flimage_app.gui.menus`, File ▸ Export by
:mod:`flimage_app.gui.export`, the question before losing work by
:mod:`flimage_app.gui.unsaved_prompt`.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui import app as app_settings
from flimage_app.gui import scratch
from flimage_app.gui.browser.channel_display import ChannelDisplay
from flimage_app.gui.browser.frame_cache import H5_LOCK, Frame
from flimage_app.gui.browser.image_view import (
    COLORMAP_NAMES,
    EMPTY_MESSAGE,
    READING_MESSAGE,
    ImageView,
)
from flimage_app.gui.browser.metadata_panel import MetadataPanel
from flimage_app.gui.browser.series_browser import SeriesBrowser, summary_from_meta
from flimage_app.gui.document import Document
from flimage_app.gui.export.exporter import Exporter
from flimage_app.gui.hyperstack_open import HyperstackOpener
from flimage_app.gui.menus import assign_mnemonics, build_menus, claim_menu_shortcuts
from flimage_app.gui.thread_warnings import collect_warnings
from flimage_app.gui.units import format_time
from flimage_app.gui.unsaved_prompt import Choice, ask_about_unsaved
from flimage_app.gui.widgets.dialogs import GettingStartedDialog, show_error
from flimage_app.gui.widgets.panel_page import PanelPage
from flimage_app.gui.widgets.welcome import WelcomeView
from flimage_app.gui.workers import Task, TaskFunction, error_message, run_with_progress
from flimage_app.model.errors import FLImageAppError

log = logging.getLogger(__name__)

#: Panels added when their module is present: name → (module, class, tab title).
OPTIONAL_PANELS: dict[str, tuple[str, str, str]] = {
    "background": ("flimage_app.gui.background.background_panel", "BackgroundPanel", "Background"),
    "bleach": ("flimage_app.gui.bleach.bleach_panel", "BleachPanel", "Bleach"),
    "measure": ("flimage_app.gui.measure.measure_panel", "MeasurePanel", "Measure"),
}

#: Microscope formats in the Open dialog; an OME-Zarr folder is opened through the
#: zarr.json / .zattrs inside it (a file dialog picks files, not folders)
MICROSCOPE_PATTERNS = "*.czi *.nd2 *.lif *.zarr zarr.json .zattrs"
OPEN_FILTER = (f"Series, images and microscope files (*.h5 *.hdf5 *.hdf *.tif *.tiff *.npy "
               f"{MICROSCOPE_PATTERNS});;"
               "HDF5 FLSeries / FLImage (*.h5 *.hdf5 *.hdf);;"
               "TIFF stacks and hyperstacks (*.tif *.tiff);;"
               f"Microscope files: Zeiss CZI, Nikon ND2, Leica LIF, OME-Zarr "
               f"({MICROSCOPE_PATTERNS});;"
               "NumPy arrays (*.npy);;All files (*)")
SAVE_FILTER = "HDF5 FLSeries / FLImage (*.h5)"

def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def frame_caption(document: Document, index: int) -> str:
    """Caption drawn on the image: series, channel and plane (of a hyperstack), frame, time."""
    caption = f"{document.name}   frame {index} of {len(document)}"
    view = getattr(document, "view", None)
    if view is not None:
        caption = f"{document.name}   {view.describe()}   frame {index} of {len(document)}"
    time = _float_or_nan(document.meta_value(index, "time"))
    if math.isfinite(time):
        caption += f"   t = {format_time(time)} s"  # as in the frame table and slider row
    return caption


#: How long a message raised before the window appeared stays in the status bar.
STARTUP_MESSAGE_MS = 15_000
#: Share of the window width the image keeps when a panel asks for room.
MIN_IMAGE_SHARE = 0.45
#: Narrowest the series pane becomes when a panel asks for room (px).
MIN_SERIES_PANE = 180

#: How long closing the window waits for running tasks, which stop at their next cancel check.
TASK_SHUTDOWN_TIMEOUT_MS = 10_000

class MainWindow(QtWidgets.QMainWindow):
    """Main window of flimage-app (see the module docstring for the panel API)."""

    documentChanged = QtCore.pyqtSignal(object)
    frameChanged = QtCore.pyqtSignal(int)
    frameShown = QtCore.pyqtSignal(object)

    def __init__(self, settings: QtCore.QSettings | None = None,
                 load_optional_panels: bool = True) -> None:
        super().__init__()
        self.settings = settings if settings is not None else app_settings.make_settings()
        self.documents: list[Document] = []
        self._current: Document | None = None
        self._panels: dict[str, QtWidgets.QWidget] = {}
        self._shown_once = False
        #: True once the user dragged a splitter handle (now or in the session restored):
        #: until then the split follows the window's width (see :func:`default_splitter_sizes`)
        self._split_by_user = False
        #: the splitter's sizes before a panel widened its pane, to give back when a
        #: narrower panel comes in front (None: nothing lent)
        self._sizes_before_widening: list[int] | None = None
        #: The scroll area around each panel (the page of its tab).
        self._panel_pages: dict[str, QtWidgets.QScrollArea] = {}
        self._tasks: list[Task] = []
        #: True while the window asks about unsaved work before it closes (quit)
        self._quitting = False
        #: Errors go to stderr instead of dialogs (screenshot mode: nobody can click OK).
        self.headless = False
        self.setWindowTitle("flimage-app")
        self.setAcceptDrops(True)

        #: each open document's disconnection from the window (called when it closes)
        self._document_links: dict[int, list[Callable[[], None]]] = {}
        self.exporter = Exporter(self)
        self.hyperstacks = HyperstackOpener(self)
        #: the frame cache whose signals reach the window (a hyperstack swaps its leaf's)
        self._connected_cache = None

        self._build_widgets()
        build_menus(self)
        self.add_panel("metadata", self.metadata_panel, "Metadata")
        self._connect()
        #: whether the app should show the window maximised (a first start on a small screen)
        self.start_maximised = False
        self._restore_settings()
        if load_optional_panels:
            self._load_optional_panels()
        for item in self.menuBar().actions():
            if item.menu() is not None:
                assign_mnemonics(item.menu(), skip=[self.recent_menu])
        claim_menu_shortcuts(self)
        self.set_current_document(None)

    # ------------------------------------------------------------------ construction
    def _build_widgets(self) -> None:
        self.series_list = QtWidgets.QListWidget()
        self.series_list.setToolTip("Open series: click to switch")
        self.series_list.setMaximumHeight(76)
        self.browser = SeriesBrowser()
        self.image_view = ImageView()
        #: the channel bar and the composite of multi-channel / Z documents
        self.channels = ChannelDisplay(self)
        self.channel_bar = self.channels.bar
        self.metadata_panel = MetadataPanel()
        self.panel_tabs = QtWidgets.QTabWidget()
        self.panel_tabs.setDocumentMode(True)
        # every tab stays visible in a narrow pane (shortened) instead of behind scroll arrows
        self.panel_tabs.tabBar().setElideMode(QtCore.Qt.TextElideMode.ElideRight)
        self.panel_tabs.setUsesScrollButtons(False)
        route_drops_to_window(self.image_view)

        left = QtWidgets.QWidget()
        left_layout = QtWidgets.QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 0, 4)
        left_layout.addWidget(_heading("Open series"))
        left_layout.addWidget(self.series_list)
        left_layout.addWidget(_heading("Frames"))
        left_layout.addWidget(self.browser.table, 1)

        self.viewer = QtWidgets.QWidget()
        centre_layout = QtWidgets.QVBoxLayout(self.viewer)
        centre_layout.setContentsMargins(0, 4, 0, 0)
        centre_layout.setSpacing(2)
        centre_layout.addWidget(self.image_view, 1)
        centre_layout.addWidget(self.channel_bar)
        centre_layout.addWidget(self.browser)
        # without a series the image, its toolbar and the slider mean nothing: the centre
        # says what to do instead
        self.welcome = WelcomeView()
        self.centre = QtWidgets.QStackedWidget()
        self.centre.addWidget(self.welcome)
        self.centre.addWidget(self.viewer)

        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.centre)
        self.splitter.addWidget(self.panel_tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes(default_splitter_sizes(1400))
        self.setCentralWidget(self.splitter)

        self.info_label = QtWidgets.QLabel("")
        self.statusBar().addWidget(self.info_label, 1)
        self.readout_label = QtWidgets.QLabel("")
        self.readout_label.setMinimumWidth(420)
        self.statusBar().addPermanentWidget(self.readout_label)

    def _connect(self) -> None:
        self.series_list.currentRowChanged.connect(self._on_series_selected)
        self.browser.frameChanged.connect(self._on_frame_changed)
        self.image_view.cursorMoved.connect(self._show_readout)
        self.image_view.modeChanged.connect(self._on_mode_changed)
        self.image_view.colormapChanged.connect(self._on_colormap_changed)
        self.image_view.hold_levels_check.toggled.connect(self.hold_levels_action.setChecked)
        self.metadata_panel.metadataEdited.connect(self._on_metadata_edited)
        self.metadata_panel.seriesMetadataEdited.connect(self._on_series_metadata_edited)
        self.welcome.openRequested.connect(self.open_dialog)
        self.welcome.demoRequested.connect(self.open_demo)
        self.welcome.recentRequested.connect(lambda path: self.open_paths([path]))
        self.welcome.helpRequested.connect(self.show_getting_started)
        self.panel_tabs.currentChanged.connect(lambda _index: self._make_room_for_panel())
        self.splitter.splitterMoved.connect(self._on_splitter_dragged)

    def report_error(self, title: str, message: str) -> None:
        """Tell the user that something failed: a dialog, or stderr when headless."""
        if self.headless:
            print(f"flimage-app: error: {message}", file=sys.stderr)
        else:
            show_error(self, title, message)

    def _load_optional_panels(self) -> None:
        for name, (module_name, class_name, title) in OPTIONAL_PANELS.items():
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                if error.name != module_name:
                    log.warning("Panel %s not loaded: %s", name, error)
                continue
            try:
                self.add_panel(name, getattr(module, class_name)(self), title)
            except Exception:  # a broken panel must not stop the viewer from starting
                log.exception("Panel %s failed to start", name)

    # ------------------------------------------------------------------ panels API
    def add_panel(self, name: str, widget: QtWidgets.QWidget, title: str | None = None) -> None:
        """Add `widget` as a tab called `title` (default: `name`) in the panel area."""
        if name in self._panels:
            raise ValueError(f"A panel named {name!r} exists already")
        self._panels[name] = widget
        # a tall panel scrolls inside its tab instead of making the window taller than a
        # laptop screen (the window's minimum height is the tallest panel's otherwise)
        page = PanelPage(widget)
        self._panel_pages[name] = page
        route_drops_to_window(widget)
        tab = self.panel_tabs.addTab(page, title or name)
        self.panel_tabs.setTabToolTip(tab, title or name)  # the tab text may be shortened
        action = self.panels_menu.addAction(title or name)
        action.triggered.connect(lambda _checked=False, n=name: self.show_panel(n))
        assign_mnemonics(self.panels_menu)
        claim_menu_shortcuts(self)

    def panel(self, name: str) -> QtWidgets.QWidget | None:
        """The panel called `name`, or None."""
        return self._panels.get(name)

    def panel_names(self) -> list[str]:
        return list(self._panels)

    def show_panel(self, name: str) -> bool:
        """Bring panel `name` to the front; "browse" shows the metadata. False if unknown."""
        widget = self._panels.get("metadata" if name == "browse" else name)
        if widget is None:
            return False
        self.panel_tabs.setCurrentWidget(self._panel_pages["metadata" if name == "browse"
                                                            else name])
        return True

    def _make_room_for_panel(self) -> None:
        """Fit the panel pane to the panel in front, if the image can spare the room.

        Panels with plots need more width than the metadata table; without this they
        would open cut off (behind a horizontal scroll bar) in a narrow pane.  When a
        narrower panel comes in front again, the width lent to the wider one goes back
        to the image and the series pane (unless the user dragged the splitter since).
        """
        page = self.panel_tabs.currentWidget()
        if not isinstance(page, QtWidgets.QScrollArea) or page.widget() is None:
            return
        needed = (page.widget().minimumSizeHint().width()
                  + page.verticalScrollBar().sizeHint().width() + 2 * page.frameWidth())
        left, centre, right = self.splitter.sizes()
        if right == 0:  # collapsed on purpose
            return
        total = left + centre + right
        if right < needed:
            spare_centre = max(centre - round(MIN_IMAGE_SHARE * total), 0)
            spare_left = max(left - MIN_SERIES_PANE, 0)
            grow_centre = min(needed - right, spare_centre)
            grow_left = min(needed - right - grow_centre, spare_left)
            self.widen_panel_pane([left - grow_left, centre - grow_centre,
                                   right + grow_centre + grow_left])
            return
        before = self._sizes_before_widening
        if before is None or right <= before[2]:
            return
        # a narrower panel: give back what is not needed, the series pane its width first
        new_right = max(needed, before[2])
        new_left = min(left + right - new_right, max(left, before[0]))
        self.splitter.setSizes([new_left, total - new_left - new_right, new_right])
        if new_right == before[2]:
            self._sizes_before_widening = None

    def widen_panel_pane(self, sizes: list[int]) -> None:
        """Set the splitter's `sizes` for a panel that needs a wider pane.

        The sizes before are kept, so that the width goes back when a narrower
        panel comes in front (see :meth:`_make_room_for_panel`).
        """
        if self._sizes_before_widening is None:
            self._sizes_before_widening = self.splitter.sizes()
        self.splitter.setSizes(sizes)

    def _on_splitter_dragged(self, _position: int, _index: int) -> None:
        # the user's split is the one to keep: nothing is lent any more, and the
        # default no longer follows the window's width
        self._split_by_user = True
        self._sizes_before_widening = None

    def _apply_default_split(self) -> None:
        """Share the splitter's width as on a first start, then fit the panel in front."""
        self._sizes_before_widening = None
        self.splitter.setSizes(default_splitter_sizes(self.splitter.width()))
        self._make_room_for_panel()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        # a window shown at 1400 px and then made 1024 px wide must not keep the side
        # panes of 1400 px: until the user drags the splitter, the split follows the width
        if self._shown_once and not self._split_by_user:
            self._apply_default_split()

    def current_panel(self) -> QtWidgets.QWidget | None:
        """The panel whose tab is in front (None if there is none)."""
        page = self.panel_tabs.currentWidget()
        return page.widget() if isinstance(page, QtWidgets.QScrollArea) else page

    def current_document(self) -> Document | None:
        return self._current

    def current_series(self):
        return self._current.series if self._current is not None else None

    def current_index(self) -> int:
        return self.browser.index

    def current_frame(self) -> Frame | None:
        """The frame on display (None while nothing is shown)."""
        return self.image_view.frame

    def current_frame_shape(self) -> tuple[int, int] | None:
        """(rows, columns) of the frame on display, else of the current series' frames
        (read from the file), None without either: where the panels' ROIs are drawn."""
        frame = self.current_frame()
        if frame is not None:
            return tuple(frame.raw.shape[:2])
        series = self.current_series()
        if series is not None and len(series):
            with H5_LOCK:
                return tuple(series.frame_shape)
        return None

    def run_task(self, title: str, function: TaskFunction,
                 on_success: Callable[[Any], None] | None = None) -> Task:
        """Run `function(progress, cancel)` in a worker thread behind a progress dialog."""
        task = run_with_progress(self, title, function, on_success, start=False)
        self._tasks.append(task)
        # connected before the start: a task that ends at once is still forgotten
        task.finished.connect(lambda: self._tasks.remove(task) if task in self._tasks else None)
        task.start()
        return task

    # ------------------------------------------------------------------ opening
    def open_dialog(self) -> None:
        """File ▸ Open: pick files, starting in the last folder used."""
        folder = str(self.settings.value("last_folder", str(Path.home())))
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open series or images", folder,
                                                          OPEN_FILTER)
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        """File ▸ Open OME-Zarr folder: a file dialog picks files or folders, not both."""
        folder = str(self.settings.value("last_folder", str(Path.home())))
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open an OME-Zarr folder",
                                                          folder)
        if path:
            self.open_paths([path])

    def open_demo(self) -> None:
        """File ▸ Open demo series."""
        try:
            from flimage_app.model.demo import demo_series_path

            path = demo_series_path()
        except ImportError:
            self.report_error("Demo series", "The demo series is not available in this build.")
            return
        except Exception as error:
            self.report_error("Demo series", f"Could not create the demo series: "
                                            f"{error_message(error)}")
            return
        self.open_paths([str(path)], remember=False)

    def open_paths(self, paths: Iterable[str | os.PathLike],
                   remember: bool = True) -> list[Document]:
        """Open each file; a file that fails gives an error dialog and the others still open."""
        from flimage_app.model.loader import file_kind, open_series

        opened = []
        for path in map(str, paths):
            if self.hyperstacks.open(path, remember):
                continue  # a microscope file or hyperstack: opened, or imported in a worker
            try:
                with collect_warnings() as caught:
                    kind = file_kind(path)
                    series = open_series(path)
            except (FLImageAppError, OSError, ValueError, KeyError) as error:
                message = error_message(error)
                if os.path.basename(path) not in message:
                    message = f"{path}: {message}"
                self.report_error("Cannot open file", message)
                continue
            try:
                document = self.add_series(series, Path(path).name, source_path=path,
                                           source_kind=kind)
            except Exception as error:
                series.close()
                self.report_error("Cannot open file", f"{path}: {error_message(error)}")
                continue
            opened.append(document)
            if caught:  # e.g. a TIFF without calibration: say so where the user looks
                self.statusBar().showMessage(
                    " · ".join(caught), 15000)
            if remember:
                self._remember(path)
        return opened

    def add_series(self, series, name: str, source_path: str | None = None,
                   source_kind: str | None = None, *,
                   temporary_path: str | os.PathLike | None = None) -> Document:
        """Show `series` as a new entry in the list of open series and switch to it.

        `temporary_path`: the scratch file of a result made in the app (see
        :class:`~flimage_app.gui.document.Document`).
        """
        document = Document(series, self._unique_name(name), source_path, source_kind,
                            temporary_path=temporary_path)
        return self.add_document(document)

    def add_document(self, document: Document) -> Document:
        """Show `document` (e.g. a :class:`HyperstackDocument`) in the list and switch to it."""
        document.name = self._unique_name(document.name)
        self.documents.append(document)
        self._document_links[id(document)] = [
            document.changed.connect(lambda: self._on_document_changed(document)),
            document.metadata_changed.connect(
                lambda keys: self._on_metadata_changed(document, keys)),
        ]
        self._document_links[id(document)] += self.channels.watch(document)
        item = QtWidgets.QListWidgetItem(document.title)
        item.setToolTip(series_tooltip(document))
        self.series_list.addItem(item)
        self.series_list.setCurrentRow(len(self.documents) - 1)
        return document

    def _unique_name(self, name: str) -> str:
        names = {document.name for document in self.documents}
        candidate, number = name, 2
        while candidate in names:
            candidate, number = f"{name} ({number})", number + 1
        return candidate

    def remember_opened(self, path: str) -> None:
        """Put `path` (a file opened) into File ▸ Open Recent and remember its folder."""
        self._remember(path)

    def _remember(self, path: str) -> None:
        recent = app_settings.remember_recent(self.recent_files(), path)
        self.settings.setValue("recent_files", recent)
        self.settings.setValue("last_folder", os.path.dirname(os.path.abspath(path)))
        self._update_recent_menu()

    def recent_files(self) -> list[str]:
        return app_settings.settings_list(self.settings, "recent_files")

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_paths([p]))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)
        self.recent_menu.setEnabled(bool(recent))
        self.welcome.set_recent_files(recent)

    def _clear_recent(self) -> None:
        self.settings.setValue("recent_files", [])
        self._update_recent_menu()

    # drag & drop ------------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = _local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # ------------------------------------------------------------------ switching, frames
    def _on_series_selected(self, row: int) -> None:
        self.set_current_document(self.documents[row] if 0 <= row < len(self.documents)
                                  else None)

    def set_current_document(self, document: Document | None) -> None:
        """Show `document` (one of :attr:`documents`, or None)."""
        self._bind_cache(None)
        self.channels.show_document(None)
        self._current = document
        self.image_view.set_frame(None)
        self.centre.setCurrentWidget(self.viewer if document is not None else self.welcome)
        self.image_view.show_message(READING_MESSAGE if document is not None else EMPTY_MESSAGE)
        if document is not None:
            self._bind_cache(document)
            row = self.documents.index(document)
            if self.series_list.currentRow() != row:
                self.series_list.setCurrentRow(row)
        self.channels.show_document(document)
        self.metadata_panel.set_document(document, document.current_index if document else 0)
        self.browser.set_document(document, document.current_index if document else 0)
        self._update_actions()
        self._update_title()
        self.info_label.setText(self._series_info(document))
        self.documentChanged.emit(document)
        if document is not None and len(document) == 0:
            self.statusBar().showMessage(f"{document.name} holds no frames")

    def _series_info(self, document: Document | None) -> str:
        """One line about the current series for the status bar."""
        if document is None:
            return "Open a series: File ▸ Open…, drop files here, or File ▸ Open demo series"
        if len(document) == 0:
            return f"{document.name}: no frames"
        try:
            with H5_LOCK:
                rows, columns = document.series.frame_shape
        except (FLImageAppError, OSError, KeyError, IndexError):
            return document.name
        info = f"{len(document)} frame{'s' if len(document) != 1 else ''}, {columns} × {rows} px"
        view = getattr(document, "view", None)
        if view is not None:
            info += f", {view.n_channels} channel{'s' if view.n_channels != 1 else ''}"
            if view.planes > 1:
                info += f" × {view.planes} Z planes"
        pixel_size = document.pixel_size(document.current_index)
        if pixel_size:
            info += f", pixel size {pixel_size * 1e6:.3g} µm"
        return info + "   ·   hover over the image for pixel values"

    def _on_frame_changed(self, index: int, direction: int) -> None:
        document = self._current
        if document is None:
            return
        document.current_index = index
        self.frameChanged.emit(index)
        frame = document.cache.request(index, direction)
        if frame is not None:
            self._display(document, frame)

    def _on_frame_ready(self, index: int, frame: Frame) -> None:
        document = self._current
        if document is None:
            return
        # frames read ahead bring their metadata: later steps need not wait for the file
        document.remember_frame(frame)
        self.browser.table_model.remember(index, summary_from_meta(frame.meta,
                                                                   frame.backgrounds))
        if index == self.browser.index:
            self._display(document, frame)

    def _bind_cache(self, document: Document | None) -> None:
        """Hear the frames of `document`'s cache (a hyperstack's leaf's), no other's."""
        if self._connected_cache is not None:
            self._connected_cache.frameReady.disconnect(self._on_frame_ready)
            self._connected_cache.readFailed.disconnect(self._on_read_failed)
            self._connected_cache = None
        if document is not None:
            document.cache.frameReady.connect(self._on_frame_ready)
            document.cache.readFailed.connect(self._on_read_failed)
            self._connected_cache = document.cache

    def show_read_failure(self, index: int, message: str) -> None:
        """Say in the view that frame `index` cannot be read (if it is the one wanted)."""
        self._on_read_failed(index, message)

    def _on_read_failed(self, index: int, message: str) -> None:
        if index == self.browser.index:
            self.image_view.set_frame(None)
            self.image_view.show_message(f"Frame {index} cannot be read:\n{message}")
            self.statusBar().showMessage(f"Frame {index} cannot be read: {message}")

    def _display(self, document: Document, frame: Frame) -> None:
        document.remember_frame(frame)
        self.metadata_panel.set_index(frame.index)
        time = document.meta_value(frame.index, "time")
        self.browser.show_time(_float_or_nan(time))
        if not self.channels.display(document, frame):  # a composite comes when complete
            self.put_on_image(document, frame)
        self.frameShown.emit(frame)

    def show_frame(self, document: Document, frame: Frame) -> None:
        """Show `frame` of the document in front as if it had just been read."""
        if document is self._current:
            self._display(document, frame)

    def put_on_image(self, document: Document, frame: Frame) -> None:
        """Put `frame` (or a composite of it) on the image with its caption and scale."""
        if document is self._current:
            self.image_view.set_frame(frame, document.pixel_size(frame.index),
                                      frame_caption(document, frame.index))

    def show_leaf(self, document: Document) -> None:
        """Another channel or plane of `document` became its series: show it in place.

        The image keeps its zoom; the panels hear of the new leaf as of another
        series (each channel has its own fit), the frame table and the metadata
        show the leaf's frames.
        """
        if document is not self._current:
            return
        self._bind_cache(document)
        self.documentChanged.emit(None)
        self.metadata_panel.set_document(document, document.current_index)
        self.browser.set_document(document, document.current_index)  # shows the frame
        self.info_label.setText(self._series_info(document))
        self.documentChanged.emit(document)

    def _show_readout(self, readout) -> None:
        self.readout_label.setText(readout.text() if readout is not None else "")

    def _on_mode_changed(self, mode: str) -> None:
        self.mode_actions[mode].setChecked(True)

    def _on_colormap_changed(self, name: str) -> None:
        self.colormap_actions[name].setChecked(True)
        self.settings.setValue("colormap", name)

    def _on_metadata_edited(self, key: str) -> None:
        if self._current is not None:
            self.statusBar().showMessage(f"Edited {key!r}; save a copy with File ▸ Save As…",
                                         5000)

    def _on_series_metadata_edited(self, key: str) -> None:
        if self._current is not None:
            self.statusBar().showMessage(f"Edited the series {key}; save a copy with "
                                         "File ▸ Save As…", 5000)

    def _on_document_changed(self, document: Document) -> None:
        """Unsaved work or history of `document` changed: the marks and the Edit menu follow."""
        if document not in self.documents:
            return
        item = self.series_list.item(self.documents.index(document))
        if item is not None and item.text() != document.title:
            item.setText(document.title)
        if item is not None:
            item.setToolTip(series_tooltip(document))
        if document is self._current:
            self._update_title()
            self._update_actions()

    def _on_metadata_changed(self, document: Document, keys: set[str]) -> None:
        """Metadata of `document` changed (an edit, an undo or a redo): the views show it."""
        if document is not self._current:
            return
        self.metadata_panel.refresh()
        if self.image_view.frame is not None and keys & {"pixel size", "time"}:
            self._display(document, self.image_view.frame)
        if "pixel size" in keys:
            self.info_label.setText(self._series_info(document))

    def _update_title(self) -> None:
        document = self._current
        self.setWindowTitle(f"{document.title} — flimage-app" if document
                            else "flimage-app")

    def _update_actions(self) -> None:
        """Enable the actions that need a document, and name the steps of Undo and Redo."""
        document = self._current
        has_document = document is not None
        for action in (self.save_action, self.save_as_action, self.close_action,
                       self.export_actions["hdf5"], self.export_actions["tiff"],
                       self.export_actions["png"]):
            action.setEnabled(has_document)
        has_record = self.exporter.can_export_record(document)
        for name in ("curves", "report"):
            self.export_actions[name].setEnabled(has_record)
        history = document.history if document is not None else None
        self.undo_action.setEnabled(bool(history and history.can_undo))
        self.redo_action.setEnabled(bool(history and history.can_redo))
        self.undo_action.setText(f"&Undo {history.undo_text}" if history and history.can_undo
                                 else "&Undo")
        self.redo_action.setText(f"&Redo {history.redo_text}" if history and history.can_redo
                                 else "&Redo")

    # ------------------------------------------------------------------ undo, redo
    def undo(self) -> None:
        """Edit ▸ Undo: the newest edit of the series in front."""
        if self._current is not None:
            self._current.history.undo()

    def redo(self) -> None:
        """Edit ▸ Redo."""
        if self._current is not None:
            self._current.history.redo()

    # ------------------------------------------------------------------ saving, closing
    def save(self, document: Document | None = None) -> bool:
        """File ▸ Save: rewrite the last saved copy, or ask for a name first.

        Returns True when the document was saved.
        """
        if not isinstance(document, Document):  # QAction.triggered passes a bool
            document = self._current
        if document is None:
            return False
        if document.saved_path is None:
            return self.save_as(document)
        return self._save_to(document, document.saved_path, overwrite=True)

    def save_as(self, document: Document | None = None) -> bool:
        """File ▸ Save As: write a copy with every edit under a new name (HDF5).

        Other formats are under File ▸ Export.  Returns True when the document was saved.
        """
        if not isinstance(document, Document):  # QAction.triggered passes a bool
            document = self._current
        if document is None:
            return False
        folder = str(self.settings.value("last_folder", str(Path.home())))
        stem = Path(document.source_path or document.name).stem
        proposal = os.path.join(folder, f"{stem}.h5" if document.is_result
                                else f"{stem}_edited.h5")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, f"Save {document.name} as", proposal, SAVE_FILTER,
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return False
        if not path.lower().endswith((".h5", ".hdf5", ".hdf")):
            path += ".h5"
        overwrite = False
        if os.path.exists(path):
            if not self.confirm_overwrite(path):
                return False
            overwrite = True
        return self._save_to(document, path, overwrite)

    def confirm_overwrite(self, path: str) -> bool:
        """Ask whether `path` may be replaced."""
        answer = QtWidgets.QMessageBox.question(
            self, "Replace file?", f"{path} exists. Replace it?",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            QtWidgets.QMessageBox.StandardButton.No)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def _save_to(self, document: Document, path: str, overwrite: bool) -> bool:
        try:
            document.save_copy(path, overwrite=overwrite)
        except (FLImageAppError, OSError, ValueError) as error:
            self.report_error("Save failed", f"{path}: {error_message(error)}")
            return False
        self.settings.setValue("last_folder", os.path.dirname(os.path.abspath(path)))
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def close_current(self) -> None:
        """File ▸ Close series (asks first when it has unsaved work)."""
        document = self._current
        if document is None:
            return
        if document.modified and not self._confirm_discard([document]):
            return
        self.close_document(document)

    def close_document(self, document: Document) -> None:
        """Close `document` without asking: its file, its reader and its scratch file."""
        row = self.documents.index(document)
        if document is self._current:
            self.set_current_document(None)
        self.documents.pop(row)
        for disconnect in self._document_links.pop(id(document), []):
            disconnect()
        self.series_list.blockSignals(True)
        self.series_list.takeItem(row)
        self.series_list.blockSignals(False)
        document.close()
        if self.documents and self._current is None:
            self.set_current_document(self.documents[min(row, len(self.documents) - 1)])

    def _confirm_discard(self, documents: list[Document]) -> bool:
        """Ask once about the unsaved work of `documents`; True when the close may go on.

        Save saves each of them (asking for a name where needed) and goes on only
        when every save succeeded; Discard goes on; Cancel stops.
        """
        choice = ask_about_unsaved(self, documents, self._quitting)
        if choice is Choice.CANCEL:
            return False
        if choice is Choice.DISCARD:
            return True
        for document in documents:
            if document.modified and not self.save(document):
                return False
        return True

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        modified = [document for document in self.documents if document.modified]
        self._quitting = True
        try:
            go_on = not modified or self._confirm_discard(modified)
        finally:
            self._quitting = False
        if not go_on:
            event.ignore()
            return
        self._save_settings()
        self.shutdown()
        scratch.remove_scratch_folder()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop playback and tasks, close every series (their reader threads end)."""
        self.browser.set_playing(False)
        for task in list(self._tasks):
            task.cancel()
        # tasks of the panels (fits, previews) too: none may outlive the widgets they report to
        QtCore.QThreadPool.globalInstance().waitForDone(TASK_SHUTDOWN_TIMEOUT_MS)
        self.set_current_document(None)
        self.series_list.clear()
        for document in self.documents:
            for disconnect in self._document_links.pop(id(document), []):
                disconnect()
            document.close()
        self.documents.clear()

    # ------------------------------------------------------------------ settings, help
    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QtCore.QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = self.screen() or QtGui.QGuiApplication.primaryScreen()
            self.resize(*first_start_size(screen))
            # a screen no larger than the first-start size: the window's frame would push
            # the status bar below the screen's edge; maximised, the frame fits too
            self.start_maximised = screen is not None and first_start_size(screen) != \
                FIRST_START_SIZE
        splitter = self.settings.value("splitter")
        restored = (isinstance(splitter, QtCore.QByteArray) and not splitter.isEmpty()
                    and self.splitter.restoreState(splitter))
        # a split restored from a session where the user never dragged it is the default
        # of that window's width: it follows this window's width instead
        self._split_by_user = bool(restored) and bool(
            self.settings.value("splitter_dragged", False, type=bool))
        colormap = str(self.settings.value("colormap", COLORMAP_NAMES[0]))
        self.image_view.set_colormap(colormap if colormap in COLORMAP_NAMES
                                     else COLORMAP_NAMES[0])
        self.colormap_actions[self.image_view.colormap].setChecked(True)
        self._update_recent_menu()

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        # a message shown before the window (e.g. a warning about a file opened from the
        # command line) did not hide the series info under it: show it again so it does
        message = self.statusBar().currentMessage()
        if message:
            self.statusBar().clearMessage()
            self.statusBar().showMessage(message, STARTUP_MESSAGE_MS)
        if not self._shown_once:
            self._shown_once = True
            if not self._split_by_user:
                # share the width the window really has (a small laptop screen gets
                # proportionally narrower side panes, not a squeezed image)
                self.splitter.setSizes(default_splitter_sizes(self.splitter.width()))
            # a panel brought to the front before the window had its size (from the
            # command line, or with a narrow pane restored from the last session)
            self._make_room_for_panel()

    def _save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.setValue("splitter_dragged", self._split_by_user)
        self.settings.setValue("colormap", self.image_view.colormap)
        self.settings.sync()

    def show_getting_started(self) -> None:
        GettingStartedDialog(self).exec()


def series_tooltip(document: Document) -> str:
    """Tooltip of a series in the list: where it comes from and what is not saved."""
    origin = document.source_path or "made in this session"
    if document.saved_path:
        origin += f"\nsaved as {document.saved_path}"
    work = document.unsaved_work()
    if work:
        origin += "\nnot saved: " + "; ".join(work)
    return origin


#: Window size at the first start (client area, px), if the screen has room for it.
FIRST_START_SIZE = (1400, 900)


def first_start_size(screen: QtGui.QScreen | None) -> tuple[int, int]:
    """:data:`FIRST_START_SIZE`, limited to the screen's available geometry (no task bar)."""
    width, height = FIRST_START_SIZE
    if screen is None:
        return width, height
    available = screen.availableGeometry()
    return min(width, available.width()), min(height, available.height())


def default_splitter_sizes(width: int) -> list[int]:
    """Widths of the series pane, the image and the panel pane in a window `width` wide.

    The side panes get a share of the width within sensible bounds; the image gets
    the rest.
    """
    left = min(max(round(0.24 * width), 270), 330)
    right = min(max(round(0.25 * width), 250), 400)
    return [left, max(width - left - right, 0), right]


def _heading(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def route_drops_to_window(widget: QtWidgets.QWidget) -> None:
    """Let files dropped onto `widget`'s views reach the main window.

    Qt hands a drop to the innermost widget that accepts drops; graphics views
    (pyqtgraph's image and plots) and read-only text views accept them by default
    but ignore files, so a file dropped onto the image or a plot was refused.
    None of these views takes drops; editable text fields keep theirs.
    """
    views = [widget, *widget.findChildren(QtWidgets.QAbstractScrollArea)]
    for view in views:
        read_only_text = (isinstance(view, QtWidgets.QPlainTextEdit | QtWidgets.QTextEdit)
                          and view.isReadOnly())
        if isinstance(view, QtWidgets.QGraphicsView) or read_only_text:
            view.setAcceptDrops(False)
            view.viewport().setAcceptDrops(False)


def _local_paths(mime: QtCore.QMimeData) -> list[str]:
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]

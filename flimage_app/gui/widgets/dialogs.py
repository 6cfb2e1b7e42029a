"""Small dialogs: errors, Help ▸ About and Help ▸ Getting started."""

from __future__ import annotations

import platform

import h5py
import numpy as np
import pyqtgraph
from PyQt6 import QtCore, QtWidgets

import flimage_app

GETTING_STARTED_HTML = """
<h3>Getting started</h3>
<ol>
<li><b>Open data</b> with <i>File ▸ Open…</i> (Ctrl+O), by dropping files onto the window,
or try <i>File ▸ Open demo series</i>. The app reads FLSeries and FLImage HDF5 files
(<code>.h5</code>) and imports TIFF stacks and NumPy arrays (<code>.npy</code>).
Your files are opened read-only: nothing you do here changes them.</li>
<li><b>Browse frames</b> with the slider under the image, the frame table on the left, or the
keyboard: ←/→ one frame, PgUp/PgDn ten frames, Home/End first and last frame.
Press ▶ to play the series at the rate shown next to it.</li>
<li><b>Look at intensities</b>: the histogram right of the image sets the display range
(drag its handles); tick <i>Hold levels</i> to keep that range while you step through frames,
so that bleaching shows as fading. Pick a colour map from the toolbar. Hover over the image to read
the pixel position (px and µm) and its raw and background-corrected values in the status bar.</li>
<li><b>Raw, background, corrected</b>: the toolbar switches between the raw image, the stored
background and the corrected image (raw − background).</li>
<li><b>Metadata</b>: the panel on the right shows the identifier of the whole series and every
key of the current frame with its unit; a yellow note says when the pixel size or the acquisition
time is missing. Double-click a value to edit it; edits are checked, shown in blue, kept in memory
and written only when you <i>Save As…</i> a copy. A new pixel size applies to every frame (untick
<i>Frame edits apply to all frames</i> to change one); a time or frame identifier changes the frame
shown only.</li>
<li><b>Background</b> (the <i>Background</i> panel): pick a tool (rectangle, ellipse, polygon,
free-hand, border) and draw on the image where there is only background; mark regions to leave
out as <i>exclude</i>. The panel fits the background of the frame on display while you draw and
shows the fit, the corrected frame and the residual. <i>Apply and save as…</i> writes a new,
background-corrected file; the regions are kept with the series when you save it.</li>
<li><b>Bleach correction</b> (the <i>Bleach correction</i> panel): choose a method, where the signal
and the background are measured (the whole frame, or the regions of the Background panel), and
read the fit, its half-life and R² in the plots and the report. <i>Correct series</i> opens the
corrected series as a new, unsaved series (marked <b>*</b>) that shows how it was made; save it
with <i>File ▸ Save As…</i>.</li>
<li><b>Undo</b> any edit (regions, metadata, settings) with <i>Edit ▸ Undo</i> (Ctrl+Z) and
redo it with Ctrl+Shift+Z or Ctrl+Y; each series has its own history.</li>
<li><b>Save and export</b>: <i>File ▸ Save As…</i> writes an HDF5 copy with every edit and the
regions; <i>File ▸ Export</i> writes an HDF5 copy, an ImageJ TIFF stack (32-bit float, or in the
input's integer type as Fiji converts it), the curves and the fit report of a corrected series as
CSV, or the frame on display as PNG with its scale bar. An existing file is replaced only when you
say so.</li>
<li>Several series can be open at once; switch between them in the <i>Open series</i> list.
A <b>*</b> in the list and the title marks unsaved work; closing or quitting names what would be
lost and offers to save it.</li>
</ol>
<p>Units: files store SI units (metres, seconds); the app shows µm and s.</p>
"""


def show_error(parent: QtWidgets.QWidget | None, title: str, message: str) -> None:
    """Show a modal error message (a single function so that tests can patch one place)."""
    QtWidgets.QMessageBox.critical(parent, title, message)


def versions_text() -> str:
    """Versions of the app and the libraries that matter for bug reports."""
    return "\n".join([
        f"flimage-app {flimage_app.__version__}",
        f"Qt {QtCore.QT_VERSION_STR} (PyQt {QtCore.PYQT_VERSION_STR})",
        f"pyqtgraph {pyqtgraph.__version__}",
        f"h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version})",
        f"numpy {np.__version__}",
        f"Python {platform.python_version()} on {platform.system()}",
    ])


def show_about(parent: QtWidgets.QWidget | None) -> None:
    """Help ▸ About: what the app is and the versions it runs with."""
    versions = versions_text().replace("\n", "<br>")
    QtWidgets.QMessageBox.about(
        parent, "About flimage-app",
        "<h3>flimage-app</h3>"
        "<p>View, background-correct and bleach-correct fluorescence microscopy images and time "
        "series stored as FLImage / FLSeries HDF5 files (compatible with flimage 0.3.3).</p>"
        f"<p>{versions}</p>")


class GettingStartedDialog(QtWidgets.QDialog):
    """Help ▸ Getting started: a short guide to the window."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Getting started")
        self.resize(560, 520)
        text = QtWidgets.QTextBrowser(self)
        text.setHtml(GETTING_STARTED_HTML)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)

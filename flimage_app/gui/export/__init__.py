"""File ▸ Export of the document in front: HDF5, ImageJ TIFF, CSV, PNG of the frame.

* :mod:`.formats` — the writers, Qt-free: they take a
  :class:`~flimage_app.gui.document.Document` (with its unsaved edits) and a target
  path, and run in a worker thread with progress and cancel;
* :mod:`.frame_png` — renders the frame on display, with its scale bar, to an image;
* :mod:`.exporter` — the menu's actions: the file dialog, the overwrite question, the
  worker with its progress dialog.
"""

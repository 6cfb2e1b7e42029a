"""The channel and Z-plane choice of a multi-channel / Z document, under the image.

Shows a :class:`~flimage_app.gui.channels.ChannelView` and changes it: a choice of
channel (each with its colour swatch) or "Composite", the channels the composite
adds up (ticks, shown in composite mode, as Fiji's Channels tool), and the Z plane
(slider and spin box, shown when the stack has planes).  The widgets follow the
view's ``changed`` event, whoever changed it.  Hidden for a single-channel,
single-plane series.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.channels import COMPOSITE, ChannelView

#: Side of a channel's colour swatch (px).
SWATCH_SIZE = 12
#: The Z slider is never narrower than this; Z moves to a row of its own instead (px).
Z_SLIDER_MIN_WIDTH = 80


def swatch_icon(colour: str, size: int = SWATCH_SIZE) -> QtGui.QIcon:
    """A small square of `colour` with a thin grey border (visible on light and dark)."""
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(QtGui.QColor(colour))
    painter = QtGui.QPainter(pixmap)
    painter.setPen(QtGui.QColor(110, 110, 110))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return QtGui.QIcon(pixmap)


def composite_icon(colours: list[str], size: int = SWATCH_SIZE) -> QtGui.QIcon:
    """A swatch striped with every channel's colour (the composite choice)."""
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(QtGui.QColor("black"))
    painter = QtGui.QPainter(pixmap)
    width = size / max(len(colours), 1)
    for number, colour in enumerate(colours):
        painter.fillRect(QtCore.QRectF(number * width, 0, width, size), QtGui.QColor(colour))
    painter.setPen(QtGui.QColor(110, 110, 110))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return QtGui.QIcon(pixmap)


class ChannelBar(QtWidgets.QWidget):
    """Channel / composite choice, composite channel ticks, and Z plane (see the module)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: ChannelView | None = None
        self._unwatch: Callable[[], None] | None = None
        self._updating = False

        self.channel_combo = QtWidgets.QComboBox()
        self.channel_combo.setToolTip(
            "The channel on display, or the composite of all channels in their colours.\n"
            "In the composite each channel keeps its own levels: with Hold levels ticked,\n"
            "those set on the channel alone; Auto levels scales every channel to the frame.")
        self.channel_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        # the channel's name is what the user reads: never cut to "Comp"
        self.channel_combo.setSizePolicy(QtWidgets.QSizePolicy.Policy.Fixed,
                                         QtWidgets.QSizePolicy.Policy.Fixed)
        self.channel_label = QtWidgets.QLabel("&Channel:")
        self.channel_label.setBuddy(self.channel_combo)
        self.active_box = QtWidgets.QWidget()
        self.active_layout = QtWidgets.QHBoxLayout(self.active_box)
        self.active_layout.setContentsMargins(0, 0, 0, 0)
        self.active_layout.setSpacing(6)
        self.active_checks: list[QtWidgets.QCheckBox] = []

        self.z_label = QtWidgets.QLabel("&Z:")
        self.z_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.z_slider.setToolTip("Z plane on display")
        self.z_slider.setMinimumWidth(Z_SLIDER_MIN_WIDTH)
        self.z_slider.setPageStep(1)
        self.z_spin = QtWidgets.QSpinBox()
        self.z_spin.setToolTip("Z plane on display, counted from 0 as frames are "
                               "(as --plane N of the command line)")
        self.z_label.setBuddy(self.z_spin)
        self.z_count = QtWidgets.QLabel("")

        # one row: channel choice and ticks, then Z; a narrow centre puts Z on a row
        # of its own (see resizeEvent) instead of squeezing the channel names
        self._rows = QtWidgets.QVBoxLayout(self)
        self._rows.setContentsMargins(4, 0, 4, 0)
        self._rows.setSpacing(2)
        self._rows.setSizeConstraint(QtWidgets.QLayout.SizeConstraint.SetNoConstraint)
        self.channel_row = QtWidgets.QHBoxLayout()
        self.z_row = QtWidgets.QHBoxLayout()
        for row in (self.channel_row, self.z_row):
            row.setSpacing(6)
            self._rows.addLayout(row)
        self.channel_row.addWidget(self.channel_label)
        self.channel_row.addWidget(self.channel_combo)
        self.channel_row.addWidget(self.active_box)
        self.channel_row.addStretch(1)
        self._z_widgets = (self.z_label, self.z_slider, self.z_spin, self.z_count)
        self._z_on_own_row: bool | None = None
        self._arrange(z_on_own_row=False)

        self.channel_combo.currentIndexChanged.connect(self._on_channel_chosen)
        self.z_slider.valueChanged.connect(self._on_plane_chosen)
        self.z_spin.valueChanged.connect(self._on_plane_chosen)
        self.set_view(None)

    # ------------------------------------------------------------------ the view
    def set_view(self, view: ChannelView | None) -> None:
        """Show and change `view` (None: hide the bar)."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self.view = view
        shown = view is not None and (view.n_channels > 1 or view.planes > 1)
        self.setVisible(shown)
        if view is None:
            return
        self._updating = True
        try:
            self.channel_combo.clear()
            for number, (name, colour) in enumerate(zip(view.names, view.colours,
                                                        strict=True)):
                self.channel_combo.addItem(swatch_icon(colour), name, number)
            if view.n_channels > 1:
                self.channel_combo.addItem(composite_icon(view.colours), "Composite",
                                           COMPOSITE)
            for check in self.active_checks:
                check.deleteLater()
            self.active_checks = []
            for number, (name, colour) in enumerate(zip(view.names, view.colours,
                                                        strict=True)):
                check = QtWidgets.QCheckBox(name)
                check.setIcon(swatch_icon(colour))
                check.setToolTip(f"Add {name} to the composite")
                check.toggled.connect(lambda on, c=number: self._on_active_toggled(c, on))
                self.active_layout.addWidget(check)
                self.active_checks.append(check)
            for widget in (self.channel_label, self.channel_combo):
                widget.setVisible(view.n_channels > 1)
            for widget in (self.z_label, self.z_slider, self.z_spin, self.z_count):
                widget.setVisible(view.planes > 1)
            self.z_slider.setRange(0, view.planes - 1)
            self.z_spin.setRange(0, view.planes - 1)
            self.z_count.setText(f"of {view.planes}")
        finally:
            self._updating = False
        self._update_arrangement()
        self._unwatch = view.changed.connect(lambda _what: self._show())
        self._show()

    def _show(self) -> None:
        """Make the widgets say what the view shows (no change is sent back)."""
        view = self.view
        if view is None:
            return
        self._updating = True
        try:
            self.channel_combo.setCurrentIndex(self.channel_combo.findData(view.choice))
            self.active_box.setVisible(view.composite)
            self._update_arrangement()
            for number, check in enumerate(self.active_checks):
                check.setChecked(view.active[number])
                # the last channel of the composite cannot be left out
                check.setEnabled(not (view.active[number] and sum(view.active) == 1))
            self.z_slider.setValue(view.plane)
            self.z_spin.setValue(view.plane)
        finally:
            self._updating = False

    # ------------------------------------------------------------------ layout
    @property
    def z_on_own_row(self) -> bool:
        """True while the Z plane choice has a row of its own (the centre is narrow)."""
        return bool(self._z_on_own_row)

    def _arrange(self, z_on_own_row: bool) -> None:
        if z_on_own_row == self._z_on_own_row:
            return
        self._z_on_own_row = z_on_own_row
        for widget in self._z_widgets:
            (self.z_row if not z_on_own_row else self.channel_row).removeWidget(widget)
        row = self.z_row if z_on_own_row else self.channel_row
        for widget in self._z_widgets:
            row.addWidget(widget, 1 if widget is self.z_slider else 0)
        self.updateGeometry()

    def one_row_width(self) -> int:
        """The least width at which channel choice, named ticks and Z fit one row."""
        shown = [widget for widget in self._z_widgets if not widget.isHidden()]
        hints = [Z_SLIDER_MIN_WIDTH if widget is self.z_slider else widget.sizeHint().width()
                 for widget in shown]
        return (self.channel_row_width(with_names=True) + sum(hints)
                + self.channel_row.spacing() * len(shown))

    def _update_arrangement(self) -> None:
        self._arrange(z_on_own_row=self.width() < self.one_row_width())
        # still too narrow for the ticks' names: the ticks show their swatches only
        self._name_ticks(self.width() >= self.channel_row_width(with_names=True)
                         or not self.z_on_own_row)
        # the combo is never squeezed below its text ("Composite", the channel names)
        self.channel_combo.setMinimumWidth(self.channel_combo.sizeHint().width())

    def _name_ticks(self, named: bool) -> None:
        for check, name in zip(self.active_checks, self.view.names if self.view else [],
                               strict=False):
            text = name if named else ""
            if check.text() != text:
                check.setText(text)

    def channel_row_width(self, with_names: bool) -> int:
        """Width of the channel row alone, with the ticks' names or with swatches only."""
        margins = self._rows.contentsMargins()
        widths = [widget.sizeHint().width() for widget in (self.channel_label,
                                                            self.channel_combo)
                  if not widget.isHidden()]
        if not self.active_box.isHidden():
            for check, name in zip(self.active_checks, self.view.names if self.view else [],
                                   strict=False):
                text_width = check.fontMetrics().horizontalAdvance(name) + 6
                swatch_only = check.sizeHint().width() - (text_width if check.text() else 0)
                widths.append(swatch_only + (text_width if with_names else 0))
        return (sum(widths) + self.channel_row.spacing() * max(len(widths) - 1, 0)
                + margins.left() + margins.right())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_arrangement()

    # ------------------------------------------------------------------ user input
    def _on_channel_chosen(self, row: int) -> None:
        if self._updating or self.view is None or row < 0:
            return
        self.view.choose(self.channel_combo.itemData(row))

    def _on_plane_chosen(self, plane: int) -> None:
        if self._updating or self.view is None:
            return
        if 0 <= plane < self.view.planes:
            self.view.set_plane(int(plane))

    def _on_active_toggled(self, channel: int, active: bool) -> None:
        if self._updating or self.view is None:
            return
        self.view.set_active(channel, active)
        self._show()  # a refused untick (the last channel) shows ticked again


__all__ = ["ChannelBar", "composite_icon", "swatch_icon"]

"""Showing frames while scrubbing: the screen's resolution, then the full frame at rest.

The readout under the mouse always reads the full-resolution frame, and the
image keeps its place in view coordinates (ROIs, scale bar) whatever the
thinning.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from flimage_app.gui.browser.frame_cache import Frame
from flimage_app.gui.browser.image_view import ImageView, screen_step, thinned

SIZE = (600, 900)


@pytest.mark.parametrize(("per_pixel", "ratio", "expected"), [
    (0.5, 1.0, 1), (1.0, 1.0, 1), (1.99, 1.0, 1), (2.0, 1.0, 2), (3.7, 1.0, 3),
    (3.7, 2.0, 1), (8.0, 2.0, 4), (math.nan, 1.0, 1), (math.inf, 1.0, 1), (5.0, 0.5, 5),
])
def test_screen_step_never_drops_a_device_pixel(per_pixel, ratio, expected):
    assert screen_step(per_pixel, ratio) == expected


def test_thinned_keeps_every_step_th_pixel_from_the_first():
    image = np.arange(35.0).reshape(5, 7)
    assert thinned(image, 1) is image
    np.testing.assert_array_equal(thinned(image, 3), image[[0, 3]][:, [0, 3, 6]])


def frames(count=3):
    rng = np.random.default_rng(3)
    return [Frame.from_arrays(index, rng.normal(100, 10, SIZE).astype(np.float32), None)
            for index in range(count)]


@pytest.fixture
def small_view(qtbot):
    """A view much smaller than the frames: one screen pixel covers several image pixels."""
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(320, 260)
    view.show()
    qtbot.waitExposed(view)
    return view


def view_rect_of_image(view):
    return view.image_item.mapRectToView(view.image_item.boundingRect())


def test_scrubbing_shows_screen_resolution_then_full_frame_at_rest(small_view, qtbot):
    first, second, third = frames()
    small_view.set_frame(first)  # a new shape: full resolution, fitted
    assert small_view.display_step == 1
    # frames in quick succession (no event loop between them: no rest) are thinned
    small_view.set_frame(second)
    small_view.set_frame(third)
    step = small_view.display_step
    assert step >= 2
    shown = small_view.image_item.image
    np.testing.assert_array_equal(shown, third.raw[::step, ::step])
    rect = view_rect_of_image(small_view)
    assert (rect.x(), rect.y()) == (0, 0)
    assert rect.width() == pytest.approx(shown.shape[1] * step)
    assert rect.height() == pytest.approx(shown.shape[0] * step)
    # the readout reads the full frame, also between the thinned pixels
    readout = small_view.readout_at(step * 3 + 1.5, step * 2 + 1.2)
    assert readout.raw == float(third.raw[step * 2 + 1, step * 3 + 1])
    # at rest the full frame is drawn, at the same place
    qtbot.waitUntil(lambda: small_view.display_step == 1, timeout=3000)
    assert small_view.image_item.image.shape == SIZE
    np.testing.assert_array_equal(small_view.image_item.image, third.raw)
    rect = view_rect_of_image(small_view)
    assert (rect.width(), rect.height()) == (SIZE[1], SIZE[0])


def test_levels_of_a_thinned_frame_are_kept_when_held(small_view, qtbot):
    first, second, _ = frames()
    small_view.set_frame(first)
    small_view.set_hold_levels(True)
    small_view.set_levels(10.0, 20.0)
    small_view.set_frame(second)
    assert small_view.display_step >= 2
    assert small_view.levels() == (10.0, 20.0)
    qtbot.waitUntil(lambda: small_view.display_step == 1, timeout=3000)
    assert small_view.levels() == (10.0, 20.0)
    assert tuple(small_view.image_item.levels) == (10.0, 20.0)


def test_zoomed_in_the_frame_is_never_thinned(small_view):
    first, second, _ = frames()
    small_view.set_frame(first)
    small_view.view_box.setRange(xRange=(100, 140), yRange=(100, 130), padding=0)
    small_view.set_frame(second, scrubbing=True)
    assert small_view.display_step == 1
    assert small_view.image_item.image.shape == SIZE


def test_explicit_choice_overrides_the_rest_rule(small_view):
    first, second, _ = frames()
    small_view.set_frame(first)
    small_view.set_frame(second, scrubbing=False)
    assert small_view.display_step == 1
    small_view.set_frame(first, scrubbing=True)
    assert small_view.display_step >= 2
    small_view.set_frame(None)
    assert small_view.display_step == 1


def test_update_histogram_brings_the_rest_at_once(small_view):
    """What a screenshot calls: the full frame now, not REST_MS later."""
    first, second, _ = frames()
    small_view.set_frame(first)
    small_view.set_frame(second)
    assert small_view.display_step >= 2
    small_view.update_histogram()
    assert small_view.display_step == 1
    np.testing.assert_array_equal(small_view.image_item.image, second.raw)
    assert not small_view.histogram_timer.isActive()

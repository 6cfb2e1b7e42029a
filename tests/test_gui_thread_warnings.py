"""collect_warnings: a thread's own warnings, while other threads' warnings go on as usual."""

from __future__ import annotations

import threading
import warnings

from flimage_app.gui.thread_warnings import collect_warnings

TIMEOUT = 60  # seconds; events are set long before on any machine


def warn(text: str) -> None:
    warnings.warn(text, UserWarning, stacklevel=2)


def in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_worker_collects_its_warnings_and_the_main_thread_keeps_its_own(recwarn):
    collecting, main_warned = threading.Event(), threading.Event()
    collected: list[str] = []

    def worker() -> None:
        with collect_warnings() as caught:
            warn("worker: before")
            collecting.set()
            assert main_warned.wait(TIMEOUT)
            warn("worker: after")
        collected.extend(caught)

    thread = in_thread(worker)
    assert collecting.wait(TIMEOUT)
    warn("main thread")  # while the worker collects
    main_warned.set()
    thread.join(TIMEOUT)
    assert collected == ["worker: before", "worker: after"]
    assert [str(warning.message) for warning in recwarn] == ["main thread"]


def test_catch_warnings_left_out_of_order_by_another_thread_does_not_stop_collecting(recwarn):
    """The main window opens files inside catch_warnings while a batch may run."""
    collecting, main_left, done = threading.Event(), threading.Event(), threading.Event()
    collected: list[str] = []

    def worker() -> None:
        with collect_warnings() as caught:
            collecting.set()
            assert main_left.wait(TIMEOUT)
            warn("worker after the main thread left catch_warnings")
        collected.extend(caught)
        done.set()

    with warnings.catch_warnings(record=True) as main_caught:  # entered before the worker
        warnings.simplefilter("always")
        thread = in_thread(worker)
        assert collecting.wait(TIMEOUT)
        warn("main, recording")
    main_left.set()  # left while the worker still collects
    assert done.wait(TIMEOUT)
    thread.join(TIMEOUT)
    assert collected == ["worker after the main thread left catch_warnings"]
    assert [str(warning.message) for warning in main_caught] == ["main, recording"]
    warn("main, afterwards")
    assert [str(warning.message) for warning in recwarn] == ["main, afterwards"]


def test_repeated_and_earlier_shown_messages_are_collected_each_time(recwarn):
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # Python's usual action: each message once
        warn("the same message")  # shown here, outside any block
        with collect_warnings() as first:
            warn("the same message")
            warn("the same message")
        with collect_warnings() as second:
            warn("the same message")
    assert [str(warning.message) for warning in recwarn] == ["the same message"]
    assert first == ["the same message", "the same message"]
    assert second == ["the same message"]


def test_nested_blocks_collect_into_the_innermost(recwarn):
    with collect_warnings() as outer:
        warn("outer 1")
        with collect_warnings() as inner:
            warn("inner")
        warn("outer 2")
    warn("outside")
    assert outer == ["outer 1", "outer 2"] and inner == ["inner"]
    assert [str(warning.message) for warning in recwarn] == ["outside"]


def test_a_python_without_the_display_hook_collects_nothing_and_does_not_fail(monkeypatch):
    import types

    from flimage_app.gui import thread_warnings

    plain = types.SimpleNamespace(filters=[])  # a warnings module without the private hook
    monkeypatch.setattr(thread_warnings, "warnings", plain)
    with collect_warnings() as collected:
        pass
    assert collected == []
    assert plain.filters == []  # nothing was installed

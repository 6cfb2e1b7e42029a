"""History: the Qt-free undo / redo stack of one document."""

from flimage_app.gui.history import History


def make_counter():
    state = {"value": 0}

    def setter(value):
        return lambda: state.__setitem__("value", value)
    return state, setter


def test_undo_redo_and_clean_state():
    state, to = make_counter()
    history = History()
    seen = []
    history.changed.connect(lambda: seen.append(history.undo_text))
    history.push("set 1", to(0), to(1), apply=True)
    history.push("set 2", to(1), to(2), apply=True)
    assert state["value"] == 2 and history.undo_text == "set 2"
    history.mark_clean()
    history.undo()
    assert state["value"] == 1 and not history.is_clean and history.redo_text == "set 2"
    history.redo()
    assert state["value"] == 2 and history.is_clean
    assert seen[-1] == "set 2" and len(seen) == 5


def test_a_new_step_drops_the_redo_stack_and_the_saved_state_in_it():
    state, to = make_counter()
    history = History()
    history.push("set 1", to(0), to(1), apply=True)
    history.mark_clean()
    history.undo()
    history.push("set 5", to(0), to(5), apply=True)
    assert not history.can_redo and not history.is_clean
    history.undo()
    assert state["value"] == 0 and not history.is_clean


def test_steps_with_one_merge_key_merge_until_saved():
    state, to = make_counter()
    history = History()
    for value in (1, 2, 3):
        history.push("Move ROI", to(value - 1), to(value), merge_key=("move", 7), apply=True)
    history.undo()
    assert state["value"] == 0 and not history.can_undo
    history.redo()
    history.mark_clean()
    history.push("Move ROI", to(3), to(4), merge_key=("move", 7), apply=True)
    history.undo()
    assert state["value"] == 3 and history.is_clean

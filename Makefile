# Developer shortcuts. Every target uses the project's venv in .venv.
PY := .venv/bin/python

.PHONY: venv app test bench icon

venv:
	python3 -m venv .venv && .venv/bin/pip install -e '.[test,build]'

app:  ## the double-click app, one folder in dist/flimage-app/
	$(PY) -m PyInstaller --noconfirm --clean --log-level WARN flimage.spec

test:
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench:
	$(PY) benchmarks/bench_series.py

icon:
	$(PY) resources/make_icon.py

"""The peer benchmarks: Fiji's skips with a message where Java is missing; goals printed."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench_fiji(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return load("bench_fiji")


def test_fiji_benchmark_skips_with_a_message_without_java(bench_fiji, monkeypatch, capsys):
    monkeypatch.setattr(bench_fiji.shutil, "which", lambda name: None)
    assert bench_fiji.compare_with_fiji(frames=2, size=16, repeats=1) is None
    assert "skipped: no Java" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["bench_fiji.py", "--frames", "2", "--size", "16"])
    assert bench_fiji.main() == 0  # a skip, not a failure
    assert "skipped: no Java" in capsys.readouterr().out


def test_fiji_benchmark_skips_with_a_message_without_imagej(bench_fiji, monkeypatch, capsys):
    monkeypatch.setattr(bench_fiji, "ij_jar", lambda: None)
    monkeypatch.setattr(bench_fiji.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert bench_fiji.compare_with_fiji(frames=2, size=16, repeats=1) is None
    assert "skipped: no ij.jar" in capsys.readouterr().out


def test_goals_table_names_each_goal_with_wall_and_cpu_figures(bench_fiji, capsys):
    bench_bleach = load("bench_bleach")
    flimage = {kind: {"ratio": ratio, "cpu_ratio": ratio - 1, "app": 1.0, "app_cpu": 1.1,
                      "flimage": ratio, "flimage_cpu": ratio - 1.1, "identical": 100,
                      "frames": 100, "difference": 0.0}
               for kind, ratio in (("camera counts", 16.0), ("float noise", 4.0))}
    fiji = [bench_fiji.FijiRow("ratio", 1.6, 1.9, 1.0, 1.2, 0.5, 0.2, "equal", 1.6, 1.6),
            bench_fiji.FijiRow("histogram", 9.0, 9.5, 1.0, 1.0, 8.0, 0.1, "differs", 9.0, 9.5)]
    memory = {"peaks": {"exp": 185.0}, "budget_mb": 8}
    bench_bleach.print_goals(flimage, memory, fiji, 800, 512)
    table = capsys.readouterr().out
    assert "camera counts: ≥ 15× faster | 16.0× (15.0×)" in table and "| yes |" in table
    assert "float noise: ≥ 5× faster | 4.0× (3.0×)" in table
    assert table.count("| NO |") == 2  # float noise and the histogram's 9× < 10×
    assert "Fiji, ratio, whole process: ≥ 1× faster | 1.6× (1.6×)" in table
    assert "185 MB with a 8 MB frame cache" in table

"""The CI script installs what its steps need before they run (a fresh machine has neither)."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "run"


def lines() -> list[str]:
    return SCRIPT.read_text().splitlines()


def first(fragment: str) -> int:
    return next(number for number, line in enumerate(lines()) if fragment in line)


def test_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_objdump_is_installed_before_pyinstaller_runs():
    guard = first("command -v objdump")
    assert "apt-get install" in lines()[guard] and "binutils" in lines()[guard]
    assert guard < first("-m PyInstaller")


def test_imagej_and_java_are_installed_where_java_is_missing_before_the_tests():
    guard = first("command -v java")
    install = first("imagej default-jdk-headless")
    assert guard < install < first("-m pytest")
    assert "apt-get install" in lines()[install]

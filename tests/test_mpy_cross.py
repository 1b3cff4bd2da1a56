"""Every firmware .py file must compile with the real mpy-cross."""

import subprocess
from pathlib import Path

import pytest
from mpy_build import mpy_cross_exe

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"
SOURCES = sorted(
    p.relative_to(FIRMWARE).as_posix()
    for p in FIRMWARE.rglob("*.py")
    if "__pycache__" not in p.parts
)


@pytest.mark.parametrize("rel", SOURCES)
def test_mpy_cross_compiles(rel: str, tmp_path: Path) -> None:
    out = tmp_path / (Path(rel).stem + ".mpy")
    # -s: the source name recorded in the .mpy (used in tracebacks on device).
    cmd = [mpy_cross_exe(), "-o", str(out), "-s", rel, str(FIRMWARE / rel)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"mpy-cross failed on firmware/{rel}\n{proc.stdout}{proc.stderr}"
    assert out.stat().st_size > 0, "mpy-cross produced an empty file for firmware/" + rel

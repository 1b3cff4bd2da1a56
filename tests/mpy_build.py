"""Precompile the core, its harness and the core tests with the real mpy-cross, so that the
MicroPython test runs import bytecode (as a device does) instead of compiling sources."""

from pathlib import Path

from meshbulb_tools.mpy import build_tree, compile_file, mpy_cross_exe

REPO = Path(__file__).resolve().parent.parent

__all__ = ["build", "mpy_cross_exe"]


def build(out: Path) -> Path:
    """Firmware packages into out/<package>/*.mpy and tests/core into out/core/*.mpy."""
    build_tree(out, REPO / "firmware")
    for source in sorted((REPO / "tests" / "core").glob("*.py")):
        compile_file(source, out / "core" / (source.stem + ".mpy"), f"tests/core/{source.name}")
    return out

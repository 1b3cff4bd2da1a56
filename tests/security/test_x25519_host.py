"""Cross-check meshbulb.x25519 against the `cryptography` package (OpenSSL's X25519): the
pure-Python ladder on random inputs (hypothesis), the module with `cryptography` hidden (the
bulb's backend, on CPython), and the real MicroPython unix port running the precompiled
module. The agreed behaviour for low-order points is the all-zero result, where
`cryptography` raises ValueError; `ref_x25519` maps that to 32 zero bytes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from meshbulb import x25519 as mod
from meshbulb_tools.mpy import build_tree, micropython_exe

REPO = Path(__file__).resolve().parent.parent.parent
SOURCE = REPO / "firmware" / "meshbulb" / "x25519.py"
P = (1 << 255) - 19
ZERO = bytes(32)
HEAPSIZE = "110k"


def ref_x25519(scalar: bytes, u: bytes) -> bytes:
    peer = X25519PublicKey.from_public_bytes(u)
    try:
        return X25519PrivateKey.from_private_bytes(scalar).exchange(peer)
    except ValueError:  # all-zero shared secret
        return ZERO


def ref_public(private: bytes) -> bytes:
    pub = X25519PrivateKey.from_private_bytes(private).public_key()
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def le(n: int) -> bytes:
    return n.to_bytes(32, "little")


KEYS = st.binary(min_size=32, max_size=32)
U_COORDS = st.one_of(
    KEYS,  # uniform 256-bit strings: half have bit 255 set, which X25519 masks
    st.integers(min_value=P, max_value=(1 << 255) - 1).map(le),  # non-canonical: u >= p
    st.integers(min_value=P, max_value=(1 << 255) - 1).map(lambda n: le(n | 1 << 255)),
    st.integers(min_value=0, max_value=40).map(le),  # small u, including 0 and 1
    st.sampled_from([le(P - 1), le(P + 1), le((1 << 255) - 1), b"\xff" * 32]),
)


def test_cryptography_backend_selected() -> None:
    assert mod.BACKEND == "cryptography"


@settings(max_examples=200, deadline=None)
@given(scalar=KEYS, u=U_COORDS)
def test_python_ladder_matches_cryptography(scalar: bytes, u: bytes) -> None:
    expected = ref_x25519(scalar, u)
    assert mod.x25519_python(scalar, u) == expected
    assert mod.x25519(scalar, u) == expected


@settings(max_examples=50, deadline=None)
@given(private=KEYS)
def test_python_public_key_matches_cryptography(private: bytes) -> None:
    assert mod.x25519_python(private, mod.BASEPOINT) == ref_public(private)
    assert mod.public_key(private) == ref_public(private)


def _load_without_cryptography(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of meshbulb/x25519.py imported while `cryptography` cannot be imported,
    as on a bulb."""
    for name in [n for n in sys.modules if n == "cryptography" or n.startswith("cryptography.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    spec = importlib.util.spec_from_file_location("x25519_without_cryptography", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_python_backend_when_cryptography_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = []
    for i in range(8):
        scalar = bytes((i * 37 + j * 11) & 0xFF for j in range(32))
        u = bytes((i * 53 + j * 29 + 7) & 0xFF for j in range(32))
        cases.append((scalar, u, ref_public(scalar), ref_x25519(scalar, u)))
    bare = _load_without_cryptography(monkeypatch)  # `cryptography` is unusable from here on
    assert bare.BACKEND == "python"
    assert bare.x25519 is bare.x25519_python
    for scalar, u, public, shared in cases:
        assert bare.public_key(scalar) == public
        assert bare.x25519(scalar, u) == shared
    assert bare.x25519(b"\x01" * 32, le(1)) == ZERO
    with pytest.raises(ValueError):
        bare.public_key(bytes(31))


MPY_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from meshbulb.x25519 import BACKEND, public_key, x25519
print("backend", BACKEND)
args = sys.argv[2:]
for i in range(0, len(args), 2):
    scalar = bytes.fromhex(args[i])
    u = bytes.fromhex(args[i + 1])
    print("x", x25519(scalar, u).hex())
    print("p", public_key(scalar).hex())
"""


@pytest.fixture(scope="module")
def mpy_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware packages precompiled by mpy-cross, as a device imports them."""
    return build_tree(tmp_path_factory.mktemp("x25519_mpy"))


@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_micropython_matches_cryptography(data: st.DataObject, mpy_tree: Path) -> None:
    tree = mpy_tree
    pairs = [(data.draw(KEYS), data.draw(U_COORDS)) for _ in range(4)]
    pairs.append((bytes(range(32)), le(P + 1)))  # a low-order point: all zeros everywhere
    script = tree / "x25519_check.py"
    script.write_text(MPY_SCRIPT)
    cmd = [micropython_exe(), "-X", "heapsize=" + HEAPSIZE, str(script), str(tree)]
    for scalar, u in pairs:
        cmd += [scalar.hex(), u.hex()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.split()
    assert lines[:2] == ["backend", "python"]
    expected = ["backend", "python"]
    for scalar, u in pairs:
        expected += ["x", ref_x25519(scalar, u).hex(), "p", ref_public(scalar).hex()]
    assert lines == expected

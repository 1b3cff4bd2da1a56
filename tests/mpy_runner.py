"""Minimal test runner that works on MicroPython (unix port) and CPython.

Usage: micropython -X heapsize=110k tests/mpy_runner.py [--path DIR]... tests/core/test_foo.py [...]

Test files may be .py sources or .mpy files precompiled by mpy-cross. Each --path DIR is put
ahead of the repo's firmware/ on sys.path, so precompiled packages found there win, as they
do on a device (compiling the whole core from source needs more than an ESP32-sized heap).

Imports each file as a module, calls every callable attribute named ``test_*``
with no arguments (sorted by name), and prints ``PASS name`` / ``FAIL name: ...``
followed by a closing ``N passed, M failed`` line. Exits 1 if anything failed.
"""

import gc
import os
import sys


def _abspath(path):
    if not path.startswith("/"):
        path = os.getcwd().rstrip("/") + "/" + path
    return path


def _dirname(path):
    i = path.rfind("/")
    if i < 0:
        return "."
    if i == 0:
        return "/"
    return path[:i]


def _basename(path):
    return path[path.rfind("/") + 1 :]


def _print_exc(e):
    if hasattr(sys, "print_exception"):
        sys.print_exception(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stdout)


def _fail(name, e):
    print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
    _print_exc(e)


def run_file(path):
    """Run the tests of one file; return (passed, failed)."""
    path = _abspath(path)
    test_dir = _dirname(path)
    name = _basename(path)
    if name.endswith(".py"):
        name = name[:-3]
    elif name.endswith(".mpy"):
        name = name[:-4]
    if name in sys.modules:
        del sys.modules[name]
    sys.path.insert(0, test_dir)
    try:
        module = __import__(name)
    except Exception as e:
        _fail(name, e)
        return 0, 1
    finally:
        sys.path.remove(test_dir)
    passed = failed = 0
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        fn = getattr(module, attr)
        if not callable(fn):
            continue
        gc.collect()
        try:
            fn()
        except Exception as e:
            failed += 1
            _fail("%s.%s" % (name, attr), e)
        else:
            passed += 1
            print("PASS %s.%s" % (name, attr))
    return passed, failed


def main(argv):
    repo = _dirname(_dirname(_abspath(__file__)))
    firmware = repo + "/firmware"
    if firmware not in sys.path:
        sys.path.insert(0, firmware)
    paths = []
    files = []
    i = 0
    while i < len(argv):
        if argv[i] == "--path" and i + 1 < len(argv):
            paths.append(_abspath(argv[i + 1]))
            i += 2
        else:
            files.append(argv[i])
            i += 1
    for path in reversed(paths):
        sys.path.insert(0, path)
    passed = failed = 0
    for path in files:
        p, f = run_file(path)
        passed += p
        failed += f
        gc.collect()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

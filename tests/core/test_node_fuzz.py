# The seeded fuzzer against an established node: truncations and mutations of real frames.
# Runs under CPython and MicroPython (fewer frames there); 100k frames run in tests/fuzz/.
# micropython-heap: 150k  (holds a mesh of three or four nodes in one heap)

from meshkit import MICRO, small_config


def test_every_truncated_frame_is_rejected_before_any_table_changes():
    from meshbulb_testing import fuzz

    assert fuzz.truncations_rejected(config=small_config()) > 1000


def test_mutated_frames_never_raise_or_break_bounds():
    from meshbulb_testing import fuzz

    figures = fuzz.run(2000 if MICRO else 5000, seed=4, config=small_config())
    assert figures["rejected"] > figures["frames"] // 3
    assert "internal_error" not in figures["drops"]

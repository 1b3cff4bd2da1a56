"""Host-side tools for meshbulb (CLI, demo, benchmarks); installed as ``meshbulb_tools``."""

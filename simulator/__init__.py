"""meshbulb city simulator: the real protocol core in simpy, on synthetic and OpenStreetMap
layouts, with a radio medium, churn, traffic, baselines, metrics and reports."""

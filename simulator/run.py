"""From a checked scenario to a finished run: the layout, the gateways, the engine's spec,
and the output files.

Rules kept here:
1. Gateways are placed in buildings ("home" nodes) when the layout has any, else on any node,
   spread over the area by farthest-point sampling from a seeded start: volunteers' homes
   are scattered, not clustered.
2. Power cuts given with `centre = true` are centred on the layout.
3. Everything random derives from the scenario's seed.
4. Baselines ([baselines]) run after the main run on the same spec, positions and gateways;
   their metrics join the result's metrics (so sweeps and the printed metrics see them), with
   the routed run's frame bytes after warmup (control, data and retries, from the medium's
   airtime) as ROUTED_BYTES_METRIC to compare with, and the report shows the comparison.
   metrics.json holds them too (results.py writes REQUIRED_METRICS and the OPTIONAL_METRICS
   a run has).
   With a baseline, the main run fills the first half of the progress bar, the baseline the
   second.
5. A run on several workers splits the city between processes (parallel.py); its figures
   differ from a run on one by what border.py says about the border, and are the same for
   the same seed and number of workers. Baselines run on one. Workers None lets the run
   choose how many (parallel.py rule 7).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import layouts
from .engine import GatewayFailure, PowerCut, SimSpec, Simulation
from .flooding import frame_bytes_on_air, run_flooding
from .interpreter import simulation_python
from .outcome import Outcome
from .parallel import auto_workers, run_city, usable_workers
from .radio import RadioParams
from .results import ROUTED_BYTES_METRIC, RunResult, write_outputs
from .scenario import Scenario


def build_layout(scenario: Scenario) -> layouts.Layout:
    lay = scenario.layout
    seed = scenario.scenario.seed
    if lay.kind == "grid":
        return layouts.grid(int(lay.nodes or 0), lay.spacing_m)
    if lay.kind == "random":
        return layouts.uniform_random(int(lay.nodes or 0), float(lay.area_m or 0), seed)
    if lay.kind == "clustered":
        return layouts.clustered_homes(int(lay.homes or 0),
                                       (lay.bulbs_per_home_min, lay.bulbs_per_home_max),
                                       lay.street_spacing_m, lay.lamp_spacing_m, seed)
    return layouts.from_osm(str(lay.osm_file), lay.lamp_spacing_m, lay.bulbs_per_building, seed)


def place_gateways(layout: layouts.Layout, count: int, seed: int) -> list[int]:
    """Rule 1."""
    homes = np.flatnonzero(layout.kinds == "home")
    candidates = homes if len(homes) >= count else np.arange(len(layout))
    points = layout.positions_m[candidates]
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(0, len(candidates)))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    while len(chosen) < min(count, len(candidates)):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
    return sorted(int(candidates[k]) for k in chosen)


def spec_of(scenario: Scenario, layout: layouts.Layout) -> SimSpec:
    s, radio, churn = scenario.scenario, scenario.radio, scenario.churn
    x0, y0, x1, y1 = layout.bounds_m()
    cuts = tuple(
        PowerCut(c.at_s, c.duration_s,
                 (x0 + x1) / 2 if c.centre or c.x_m is None else c.x_m,
                 (y0 + y1) / 2 if c.centre or c.y_m is None else c.y_m, c.radius_m)
        for c in churn.power_cut)
    failures = tuple(GatewayFailure(f.at_s, f.duration_s, f.gateway)
                     for f in churn.gateway_failure)
    return SimSpec(
        name=s.name, seed=s.seed, duration_s=s.duration_s, warmup_s=s.warmup_s,
        bucket_s=s.bucket_s,
        radio=RadioParams(radio.range_m, radio.path_loss_exponent, radio.shadowing_db,
                          radio.bitrate_kbit_s),
        retries=radio.retries, cca=radio.cca,
        frame_processing_us=scenario.bulb.frame_processing_us,
        rx_buffer_bytes=scenario.bulb.rx_buffer_bytes,
        internet_packets_per_min=scenario.traffic.internet_packets_per_min,
        internet_flow_packets=scenario.traffic.internet_flow_packets,
        p2p_packets_per_min=scenario.traffic.p2p_packets_per_min,
        p2p_radius_m=scenario.traffic.p2p_radius_m,
        group_messages_per_min=scenario.traffic.group_messages_per_min,
        group_hops=scenario.traffic.group_hops,
        packet_bytes=scenario.traffic.packet_bytes,
        uplink_kbit_s=scenario.gateways.uplink_kbit_s, joins_per_min=churn.joins_per_min,
        off_fraction=churn.off_fraction, mean_off_s=churn.mean_off_s if churn.diurnal else 1e12,
        power_cuts=cuts, gateway_failures=failures, core=dict(scenario.core))


def simulation_of(scenario: Scenario,
                  progress: Callable[[float], None] | None = None) -> Simulation:
    spec, positions_m, gateways = _setup(scenario)
    return Simulation(spec, positions_m, gateways, progress)


def _setup(scenario: Scenario) -> tuple[SimSpec, np.ndarray, list[int]]:
    layout = build_layout(scenario)
    gateways = place_gateways(layout, scenario.gateways.gateways_for(len(layout)),
                              scenario.scenario.seed)
    return spec_of(scenario, layout), layout.positions_m, gateways


def run_scenario(scenario: Scenario, out_dir: Path | None = None,
                 progress: Callable[[float], None] | None = None,
                 workers: int | None = 1) -> RunResult:
    """Run the scenario (and its baselines, rule 4) on `workers` processes, or as many as
    it gains from when None (rule 5); write the outputs into out_dir if given."""
    flooding = scenario.baselines.flooding
    main_progress, baseline_progress = progress, None
    if progress is not None and flooding:
        main_progress = _part_of(progress, 0.0, 0.5)
        baseline_progress = _part_of(progress, 0.5, 0.5)
    spec, positions_m, gateways = _setup(scenario)
    python = simulation_python(len(positions_m) * spec.duration_s)
    if workers is None:
        workers = auto_workers(len(positions_m), usable_workers(), python is not None)
    result, outcomes = run_city(spec, positions_m, gateways, workers, main_progress, python)
    if flooding:
        result.metrics.update(run_flooding(spec, positions_m, gateways, baseline_progress))
        result.metrics[ROUTED_BYTES_METRIC] = _routed_bytes(spec, len(positions_m), outcomes)
    if out_dir is not None:
        write_outputs(result, out_dir)
    return result


def _routed_bytes(spec: SimSpec, count: int, outcomes: list[Outcome]) -> float:
    """Rule 4: the frame bytes per bulb per second the routed run sent after warmup."""
    sent = frame_bytes_on_air(sum(o.transmissions_measured for o in outcomes),
                              sum(o.airtime_measured_s for o in outcomes), spec.radio)
    return sent / max(1e-9, spec.duration_s - spec.warmup_s) / max(1, count)


def _part_of(progress: Callable[[float], None], start: float,
             share: float) -> Callable[[float], None]:
    return lambda fraction: progress(start + share * min(1.0, fraction))


def run_metrics(scenario: Scenario) -> dict[str, float | int | None]:
    """A picklable job for sweeps: the metrics of one run."""
    return run_scenario(scenario).metrics

"""The radio model: which bulbs hear which, how well, and for how long a frame holds the air.

Rules kept here:
1. Log-distance path loss with log-normal shadowing: rssi = P0 - 10 n log10(d / 1 m) + X, with
   X ~ N(0, shadowing_db) drawn once per link (links are symmetric), and P0 chosen so that a
   link of exactly range_m has rssi = SENSITIVITY_DBM without shadowing.
2. Packet reception ratio is a logistic curve of the margin over SENSITIVITY_DBM
   (PRR_SLOPE_DB wide): 0.5 at the sensitivity. Links with PRR below MIN_PRR are not links.
3. Candidate pairs come from a KD-tree over positions within the distance where even a
   +2-sigma shadowing could still give MIN_PRR: the cost grows with the number of links, not
   with the square of the number of bulbs.
4. Airtime = PHY overhead + (frame + MAC overhead) bits / bitrate, as for ESP-NOW at 1 Mbit/s.
   An ACK is 14 bytes (802.11's ACK frame, FCS included) after the same PHY overhead. The
   overhead and the medium's slots are 802.11b DSSS timing, so only DSSS_RATES_KBIT_S are
   modelled; ESP-NOW's OFDM rates (6 to 54 Mbit/s, MCS) have other preambles and slots.
5. Seeded: the same positions and seed give the same links.
6. A bulb's links are listed in the order of the KD-tree's pairs that hold them. The lists share
   one int object per bulb index and per RSSI value, and each bulb's PRRs are allocated side by
   side: the medium walks them for every frame, and at 100,000 bulbs objects scattered over a
   heap of gigabytes cost a cache miss each.
7. link_pairs (numpy and scipy) and links_from_pairs (plain lists) are apart, so that a worker on
   another interpreter, PyPy without scipy (interpreter.py), is handed the pairs of the same
   links rather than drawing its own.

Simpler than ns-3 (docs/simulator.md): no frequency-selective fading, no capture effect, and a
frame's PRR is drawn independently per reception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SENSITIVITY_DBM = -90.0
DSSS_RATES_KBIT_S = (1000, 2000, 5500, 11000)  # rule 4: 802.11b's rates
PRR_SLOPE_DB = 1.5
MIN_PRR = 0.05
PHY_OVERHEAD_US = 192.0  # 802.11b DSSS long preamble and PLCP header
MAC_OVERHEAD_BYTES = 43
ACK_BYTES = 14


@dataclass(frozen=True)
class RadioParams:
    range_m: float = 50.0
    path_loss_exponent: float = 3.0
    shadowing_db: float = 4.0
    bitrate_kbit_s: float = 1000.0


@dataclass
class LinkTable:
    """Per node: neighbour indices, their PRR and RSSI (parallel lists)."""

    neighbours: list[list[int]]
    prr: list[list[float]]
    rssi_dbm: list[list[int]]

    def degree_mean(self) -> float:
        return sum(len(n) for n in self.neighbours) / max(1, len(self.neighbours))


def _on_air_s(mac_bytes: int, params: RadioParams) -> float:
    return PHY_OVERHEAD_US / 1e6 + mac_bytes * 8 / (params.bitrate_kbit_s * 1000.0)


def airtime_s(frame_bytes: int, params: RadioParams) -> float:
    """Rule 4."""
    return _on_air_s(frame_bytes + MAC_OVERHEAD_BYTES, params)


def ack_airtime_s(params: RadioParams) -> float:
    """Rule 4: 304 us at 1 Mbit/s."""
    return _on_air_s(ACK_BYTES, params)


LinkPairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # pairs (i, j), PRR, RSSI in dBm


def build_links(positions_m: np.ndarray, params: RadioParams, seed: int) -> LinkTable:
    """Rules 1-3 and 6."""
    return links_from_pairs(len(positions_m), *link_pairs(positions_m, params, seed))


def link_pairs(positions_m: np.ndarray, params: RadioParams, seed: int) -> LinkPairs:
    """Rules 1-3: each link once, as a pair of bulbs, its PRR and its RSSI in dBm."""
    from scipy.spatial import cKDTree  # rule 7: not imported where only lists are built

    n = params.path_loss_exponent
    p0 = SENSITIVITY_DBM + 10 * n * math.log10(params.range_m)
    margin_db = -PRR_SLOPE_DB * math.log(1 / MIN_PRR - 1)  # margin where PRR == MIN_PRR
    cutoff_m = params.range_m * 10 ** ((2 * params.shadowing_db - margin_db) / (10 * n))
    pairs = cKDTree(positions_m).query_pairs(cutoff_m, output_type="ndarray")
    rng = np.random.default_rng(seed)
    d = np.linalg.norm(positions_m[pairs[:, 0]] - positions_m[pairs[:, 1]], axis=1)
    d = np.maximum(d, 1.0)
    level = p0 - 10 * n * np.log10(d) + rng.normal(0.0, params.shadowing_db, len(d))
    ratio = 1.0 / (1.0 + np.exp(-(level - SENSITIVITY_DBM) / PRR_SLOPE_DB))
    keep = ratio >= MIN_PRR
    return pairs[keep], ratio[keep], level[keep].astype(np.int64)


def links_from_pairs(count: int, pairs: np.ndarray, ratio: np.ndarray,
                     rssi: np.ndarray) -> LinkTable:
    """Rule 6: each bulb's links from pairs (i, j) of bulbs, their PRR and RSSI."""
    # Both directions of each pair, pair by pair; a stable sort by sender keeps that order.
    sender = pairs.reshape(-1)
    order = np.argsort(sender, kind="stable")
    heard = pairs[:, ::-1].reshape(-1)[order].tolist()
    ratios = np.repeat(ratio, 2)[order].tolist()  # allocated in order: each bulb's side by side
    levels = np.repeat(rssi, 2)[order].tolist()
    bounds = np.searchsorted(sender[order], np.arange(count + 1)).tolist()
    spans = [(bounds[k], bounds[k + 1]) for k in range(count)]
    index = list(range(count))
    by_dbm = {v: v for v in levels}
    neighbours = [[index[j] for j in heard[a:b]] for a, b in spans]
    prr = [ratios[a:b] for a, b in spans]
    rssi_dbm = [[by_dbm[v] for v in levels[a:b]] for a, b in spans]
    return LinkTable(neighbours, prr, rssi_dbm)

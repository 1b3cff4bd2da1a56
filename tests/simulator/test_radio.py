"""Which bulbs hear which (radio.py rules 1, 5 and 6)."""

from __future__ import annotations

import numpy as np

from meshbulb_sim.radio import RadioParams, build_links, links_from_pairs


def test_each_bulb_lists_its_links_in_the_order_of_the_pairs() -> None:
    pairs = np.array([[0, 2], [1, 2], [0, 1]])
    links = links_from_pairs(4, pairs, np.array([0.5, 0.6, 0.7]), np.array([-80, -81, -80]))
    assert links.neighbours == [[2, 1], [2, 0], [0, 1], []]
    assert links.prr == [[0.5, 0.7], [0.6, 0.7], [0.5, 0.6], []]
    assert links.rssi_dbm == [[-80, -80], [-81, -80], [-80, -81], []]
    assert all(type(v) is int for row in links.rssi_dbm + links.neighbours for v in row)


def test_bulb_indices_and_rssi_values_are_shared_objects() -> None:
    pairs = np.array([[0, 1000], [1, 1000], [2, 1000]])
    links = links_from_pairs(1001, pairs, np.array([0.9, 0.8, 0.7]), np.array([-93, -93, -94]))
    assert links.neighbours[0][0] is links.neighbours[1][0] is links.neighbours[2][0]
    assert links.rssi_dbm[0][0] is links.rssi_dbm[1][0]
    assert links.rssi_dbm[1000][0] is links.rssi_dbm[1000][1]


def test_links_are_symmetric_and_seeded() -> None:
    positions = np.random.default_rng(3).uniform(0, 300, (400, 2))
    links = build_links(positions, RadioParams(), seed=5)
    assert links.degree_mean() > 2
    for i, near in enumerate(links.neighbours):
        for k, j in enumerate(near):
            back = links.neighbours[j].index(i)
            assert links.prr[j][back] == links.prr[i][k]
            assert links.rssi_dbm[j][back] == links.rssi_dbm[i][k]
    again = build_links(positions, RadioParams(), seed=5)
    assert again.neighbours == links.neighbours and again.prr == links.prr
    other = build_links(positions, RadioParams(), seed=6)
    assert other.prr != links.prr


def test_bulbs_too_far_apart_have_no_links() -> None:
    links = build_links(np.array([[0.0, 0.0], [5000.0, 0.0]]), RadioParams(), seed=1)
    assert links.neighbours == [[], []] and links.prr == [[], []] and links.rssi_dbm == [[], []]
    assert build_links(np.zeros((0, 2)), RadioParams(), seed=1).neighbours == []

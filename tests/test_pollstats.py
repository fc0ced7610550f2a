import math

from gridtap.pollstats import LATENCY_BUCKETS, LatencyHistogram


def test_an_observation_on_a_bound_counts_in_that_bucket_as_prometheus_le_means():
    h = LatencyHistogram()
    for x in (0.001, 0.0011, 0.004, 7.0):
        h.observe(x)
    cum = dict(h.cumulative())
    assert cum[0.001] == 1  # le="0.001" includes 0.001 itself
    assert cum[0.0025] == 2
    assert cum[0.005] == 3
    assert cum[LATENCY_BUCKETS[-1]] == 3
    assert cum[math.inf] == 4 == h.count
    assert math.isclose(h.sum, 0.001 + 0.0011 + 0.004 + 7.0)

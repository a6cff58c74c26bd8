from __future__ import annotations

import numpy as np
import pytest

from dacr.route import completion_index, feedback_available_at, feedback_lost


def test_count_delay_by_hand():
    assert feedback_available_at(np.arange(4.0), 5, None).tolist() == [6, 7, 8, 9]
    assert feedback_available_at(np.arange(4.0), 0, None).tolist() == [1, 2, 3, 4]


def test_time_delay_uses_stream_time():
    ts = np.array([0.0, 0.5, 1.0, 3.0, 3.1])
    assert feedback_available_at(ts, 0, 2.0).tolist() == [3, 3, 3, 5, 5]
    assert feedback_available_at(ts, 0, 0.0).tolist() == [1, 2, 3, 4, 5]


def test_completion_is_the_first_request_at_or_after_ts_plus_latency():
    ts = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    latency = np.array([2.5, 0.1, 1.0, 30.0, 0.0])
    # 0 ends at 2.5 -> request 3 (ts 3); 1 at 1.1 -> 2; 2 at 3.0 -> 3 (at, not after);
    # 3 at 33 -> never (5 = n); 4 at once -> still only the next request
    assert [completion_index(ts, s, lat) for s, lat in enumerate(latency)] == [3, 2, 3, 5, 5]


def test_completion_needs_a_latency():
    with pytest.raises(ValueError, match="decision 1: the chosen call has no latency"):
        completion_index(np.arange(3.0), 1, float("nan"))


def test_lost_feedback_is_seeded_and_has_the_asked_rate():
    a, b = feedback_lost(20000, 0.3, 7), feedback_lost(20000, 0.3, 7)
    assert np.array_equal(a, b)
    assert a.mean() == pytest.approx(0.3, abs=0.01)
    assert not np.array_equal(a, feedback_lost(20000, 0.3, 8))

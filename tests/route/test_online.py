from __future__ import annotations

import numpy as np
import pytest

from dacr.route import Context, Outcomes
from dacr.route.online import OUTCOME, QUALITY, Feedback, FeedbackSchedule, Request, run_online


class Recorder:
    """Always model 1; remembers every request and feedback it was handed."""

    name = "recorder"

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.feedback: list[tuple[int, Feedback]] = []

    def select_one(self, request: Request) -> int:
        self.requests.append(request)
        return 1

    def update_one(self, feedback: Feedback) -> None:
        self.feedback.append((len(self.requests), feedback))


def stream(n=6):
    q = np.tile([0.2, 0.8, 0.5], (n, 1))
    ctx = Context(
        q,
        np.tile([1.0, 2.0, 3.0], (n, 1)),
        np.zeros((n, 3)),
        np.zeros(n, np.int64),
        np.arange(n, dtype=float),
        features=np.arange(2.0 * n).reshape(n, 2),
    )
    quality = np.arange(3.0 * n).reshape(n, 3) / (3 * n)
    latency = np.tile([0.5, 2.5, 9.0], (n, 1))
    return ctx, Outcomes(quality, 10 * quality, latency, (latency > 2).astype(float))


def test_only_the_chosen_model_is_fed_back_when_the_call_completes():
    ctx, out = stream()
    router = Recorder()
    run_online(router, ctx, out, FeedbackSchedule(clock="stream", delay=0, p_miss=0.0))
    # model 1's calls take 2.5 s, requests arrive every 1 s: decision s is fed back before
    # decision s + 3 (ts = s + 3 >= s + 2.5), outcome first, then its quality label
    got = [(seen, f.t, f.kind) for seen, f in router.feedback]
    assert got == [
        (3, 0, OUTCOME),
        (3, 0, QUALITY),
        (4, 1, OUTCOME),
        (4, 1, QUALITY),
        (5, 2, OUTCOME),
        (5, 2, QUALITY),
    ]
    first = router.feedback[0][1]
    assert first.model == 1 and first.cost == pytest.approx(10 * out.quality[0, 1])
    assert first.latency_s == 2.5 and first.violation == 1.0 and first.quality is None
    assert router.feedback[1][1].quality == pytest.approx(out.quality[0, 1])
    assert router.feedback[1][1].cost is None


def test_requests_show_only_their_own_row_and_cannot_be_written():
    ctx, out = stream()
    router = Recorder()
    run_online(router, ctx, out, FeedbackSchedule(clock="index", delay=1, p_miss=0.0))
    third = router.requests[2]
    assert third.t == 2 and third.n == 6 and third.features.tolist() == [4.0, 5.0]
    assert third.q_cal.tolist() == [0.2, 0.8, 0.5]
    with pytest.raises(ValueError, match="read-only"):
        third.q_cal[0] = 1.0
    assert not hasattr(third, "quality") and not hasattr(third, "latency")


def test_lost_labels_never_arrive_and_index_delay_holds():
    ctx, out = stream(40)
    router = Recorder()
    run_online(router, ctx, out, FeedbackSchedule(clock="index", delay=2, p_miss=1.0))
    assert {f.kind for _, f in router.feedback} == {OUTCOME}
    assert all(seen == f.t + 3 for seen, f in router.feedback)  # after decision t + 2


@pytest.mark.parametrize(
    "bad,match", [(3, "returned model 3"), ("1", "returned '1'"), (True, "returned True")]
)
def test_a_bad_choice_names_the_policy_and_the_request(bad, match):
    ctx, out = stream()

    class Bad(Recorder):
        def select_one(self, request):
            return bad

    with pytest.raises(ValueError, match=rf"policy 'recorder': select_one {match}.*request 0"):
        run_online(Bad(), ctx, out, FeedbackSchedule(clock="index"))


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match="clock='wall' is not valid"):
        FeedbackSchedule(clock="wall")
    with pytest.raises(ValueError, match="p_miss=2"):
        FeedbackSchedule(p_miss=2)

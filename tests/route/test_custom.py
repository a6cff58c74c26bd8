from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from dacr.plugins import check_custom_names, custom_choices
from dacr.route import Context, Outcomes
from dacr.route.custom import CustomPolicyError, TrainData, build, import_class, source_digest

MODULE = """
import numpy as np

class Good:
    def __init__(self, lambda_cost=0.0, pick=0):
        self.lambda_cost, self.pick = lambda_cost, pick
    def fit(self, train):
        self.n_train_ = len(train.qids)
        return self
    def select_one(self, request):
        return self.pick
    def update_one(self, feedback):
        pass

class Batch(Good):
    def select_batch(self, ctx):
        return np.full(ctx.n, self.pick)

class BadBatch(Good):
    def select_batch(self, ctx):
        return np.zeros(ctx.n + 1, dtype=int)

class Raises(Good):
    def select_one(self, request):
        raise RuntimeError("boom")

class NoUpdate:
    def select_one(self, request):
        return 0
"""


@pytest.fixture
def module(tmp_path, monkeypatch):
    (tmp_path / "my_routers.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_routers"
    sys.modules.pop("my_routers", None)


def stream(n=5):
    q = np.tile([0.2, 0.8], (n, 1))
    ctx = Context(
        q,
        np.full((n, 2), 0.001),
        np.zeros((n, 2)),
        np.zeros(n, np.int64),
        np.arange(n, dtype=float),
        features=np.ones((n, 2)),
    )
    return ctx, Outcomes(q, np.full((n, 2), 0.001), np.ones((n, 2)), np.zeros((n, 2)))


TRAIN = TrainData(
    np.array(["a", "b"]),
    np.ones((2, 2)),
    np.array(["p", "q"]),
    np.array(["d", "d"]),
    ("m0", "m1"),
    np.ones((2, 2)),
    np.ones((2, 2)),
    None,
)


def run(spec, lam=None, name="mine"):
    ctx, out = stream()
    return custom_choices(
        {name: spec}, ctx, out, lam, train=TRAIN, dacr={"feedback_clock": "index"}, seed=0
    )[name]


def test_a_good_router_runs_per_request_or_in_batch(module):
    assert run({"class": f"{module}:Good", "params": {"pick": 1}}).tolist() == [1] * 5
    assert run({"class": f"{module}:Batch", "params": {"pick": 1}}).tolist() == [1] * 5
    spec = {"class": f"{module}:Good", "uses_lambda": True}
    assert build("mine", spec, 7.0).lambda_cost == 7.0
    assert run(spec, lam=7.0).tolist() == [0] * 5
    ctx, out = stream()
    assert custom_choices({"mine": spec}, ctx, out, None, train=TRAIN, dacr={}, seed=0) == {}


@pytest.mark.parametrize(
    "path,match",
    [
        ("my_routers.Good", "is not valid; write 'package.module:Class'"),
        ("nowhere.at_all:Good", "cannot import module 'nowhere.at_all'"),
        ("my_routers:Missing", "has no class 'Missing'; its classes: \\['BadBatch', 'Batch'"),
        ("my_routers:NoUpdate", "NoUpdate lacks \\['update_one'\\]"),
    ],
)
def test_a_bad_class_path_names_the_policy_and_what_is_wrong(module, path, match):
    with pytest.raises(CustomPolicyError, match=rf"custom_policies\.mine\.class=.*{match}"):
        import_class("mine", path)


def test_bad_params_and_runtime_errors_name_the_policy(module):
    with pytest.raises(CustomPolicyError, match=r"custom_policies\.mine: .*Good\(\*\*\{'colour'"):
        run({"class": f"{module}:Good", "params": {"colour": 1}})
    with pytest.raises(
        CustomPolicyError, match=r"custom_policies\.mine: the router raised RuntimeError\('boom'\)"
    ):
        run({"class": f"{module}:Raises"})
    with pytest.raises(CustomPolicyError, match=r"select_batch returned int64 of shape \(6,\)"):
        run({"class": f"{module}:BadBatch"})
    with pytest.raises(
        CustomPolicyError, match=r"select_one returned model 5 for request 0; valid: 0..1"
    ):
        run({"class": f"{module}:Good", "params": {"pick": 5}})


def test_built_in_names_are_reserved():
    with pytest.raises(CustomPolicyError, match="custom_policies.dacr: the name is taken"):
        check_custom_names({"dacr": {}})


def test_the_source_digest_follows_the_code(module, tmp_path):
    before = source_digest(f"{module}:Good")
    assert len(before) == 12
    (tmp_path / "my_routers.py").write_text(textwrap.dedent(MODULE) + "\n# changed\n")
    assert source_digest(f"{module}:Good") != before
    assert source_digest("not_a_module_anywhere:X") == ""

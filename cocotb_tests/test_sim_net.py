"""Whole-net replay on Verilator (``sim``): a DS-CNN slice bit-exact, a wrong expectation reported, the full nets.

The slice is DS-CNN's classifier (dense) plus its first pointwise conv layer when the Conv2D engine exists: each
compared element by element with hw/golden (``np.testing.assert_array_equal``) and with the planner's expectation.
"""

import numpy as np
import pytest

from sim.plan import NETS, plan, resolve, sim_params
from sim.rtl import run_steps

SLICE = ("pw1", "fc")


def _slice(net, params, names):
    steps, _ = plan(net, params)
    return [(s.name, s) for s in steps if s.name in names and s.where == "rtl"]


@pytest.fixture(scope="module")
def dscnn():
    return resolve("dscnn", "mixed")[0]


@pytest.fixture(scope="module")
def replayed(dscnn, tmp_path_factory):
    """The slice simulated once, with one bit of golden's expected classifier output flipped (each engine has its
    own simulation, so the conv layer still runs to the end)."""
    params = sim_params()
    keyed = _slice(dscnn, params, SLICE)
    measured, mismatch = run_steps(keyed, params, tmp_path_factory.mktemp("slice"), corrupt="fc",
                                   trace_mismatch=False)
    return dict(keyed), measured, mismatch


@pytest.mark.verilator
def test_dscnn_slice_bit_exact(dscnn, replayed):
    keyed, measured, _ = replayed
    assert "fc" in keyed, "the dense engine must run DS-CNN's classifier on RTL"
    for name in keyed:
        np.testing.assert_array_equal(measured[name].output, dscnn.vectors(name)[0])
        assert measured[name].cycles >= measured[name].compute_cycles > 0
        assert all(status & 0b111 == 0b010 for status in measured[name].status)     # done, no error


@pytest.mark.verilator
def test_corrupted_expectation_is_reported(dscnn, replayed):
    """golden's classifier output with one bit flipped: the replay must report that element as the mismatch."""
    _, _, mismatch = replayed
    golden = int(dscnn.vectors("fc")[0][0])
    assert mismatch is not None and mismatch.layer == "fc"
    assert (mismatch.index, mismatch.expected, mismatch.observed) == ((0,), golden ^ 1, golden)
    assert "fc: output[0] expected" in str(mismatch)


@pytest.mark.verilator
@pytest.mark.slow
def test_mismatch_leaves_a_waveform(tmp_path, dscnn):
    params = sim_params()
    _, mismatch = run_steps(_slice(dscnn, params, ("fc",)), params, tmp_path, corrupt="fc")
    assert mismatch.waves.endswith(".fst"), mismatch.waves


@pytest.mark.verilator
@pytest.mark.slow
@pytest.mark.parametrize("net", NETS)
def test_full_net_mixed_and_16(tmp_path, net):
    """Every layer that runs on RTL matches golden; the assembled output matches the export's test vector."""
    from sim.__main__ import simulate

    data = simulate(net, "mixed", sim_params(), out=tmp_path, echo=lambda *a: None)
    summary = data["summary"]
    assert summary["mismatches"] == 0, summary["first_mismatch"]
    assert summary["final_output"]["mixed"].startswith("matches the export's test vector")
    # the 16-bit baseline is a uniform16 export (its vectors apply) or the export widened (golden's output applies)
    assert summary["final_output"]["16"].startswith(("matches the export's test vector", "matches golden")), \
        summary["final_output"]["16"]
    assert (tmp_path / f"{net}.json").is_file() and (tmp_path / f"{net}.png").is_file()

"""hw.wishbone.Signature: checked parameters, members, and connections refused on mismatch."""

import pytest
from amaranth import Module
from amaranth.hdl import Fragment
from amaranth.lib import wiring

from hw import wishbone


def test_members_and_features():
    sig = wishbone.Signature(addr_width=30, data_width=32, granularity=8, features={"err", "stall"})
    m = sig.members
    assert m["adr"].shape == 30 and m["sel"].shape == 4 and m["dat_r"].flow == wiring.In
    assert m["err"].flow == wiring.In and m["stall"].flow == wiring.In and m["cyc"].flow == wiring.Out
    assert "err" not in wishbone.Signature(addr_width=4).members
    assert wishbone.Signature(addr_width=4).members["sel"].shape == 1            # granularity defaults to data width
    assert sig == wishbone.Signature(addr_width=30, data_width=32, granularity=8, features=("stall", "err"))
    assert sig != wishbone.Signature(addr_width=30, data_width=32, granularity=8)


@pytest.mark.parametrize("kw, match", [
    ({"addr_width": -1}, "addr_width"), ({"addr_width": 8, "data_width": 24}, "data_width"),
    ({"addr_width": 8, "granularity": 64}, "granularity"), ({"addr_width": 8, "features": {"retry"}}, "retry"),
])
def test_bad_parameters_named(kw, match):
    with pytest.raises(ValueError, match=match):
        wishbone.Signature(**kw)


def test_connect_refuses_width_mismatch():
    m = Module()
    initiator = wishbone.Signature(addr_width=30, data_width=32).create()
    target = wishbone.Signature(addr_width=29, data_width=64).flip().create()
    with pytest.raises(wiring.ConnectionError):
        wiring.connect(m, initiator, target)
    wiring.connect(m, initiator, wishbone.Signature(addr_width=30, data_width=32).flip().create())
    Fragment.get(m, None)                        # elaborate the module, as a design using it would

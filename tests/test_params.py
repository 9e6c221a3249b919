"""EngineParams: defaults, derived values, and refusal of every bad field with a message naming it."""

import pytest

from hw.params import EngineParams


def test_defaults_and_derived():
    p = EngineParams()
    assert p.precisions == (16, 8, 4)
    assert p.modes == (0, 1, 2)
    assert [p.mode_of(b) for b in (16, 8, 4)] == [0, 1, 2]
    assert [p.bits_of(m) for m in (0, 1, 2)] == [16, 8, 4]
    assert p.bus_bytes == 4 and p.subwords == 2 and p.wb_addr_width == 30
    assert EngineParams(bus_width=128).wb_addr_width == 28


def test_lanes_list_normalised_and_frozen():
    p = EngineParams(lanes=[4, 1])
    assert p.lanes == (1, 4)
    with pytest.raises(AttributeError):
        p.macs = 3


@pytest.mark.parametrize("field, value, exc", [
    ("macs", 0, ValueError), ("macs", 65, ValueError), ("macs", 6, ValueError), ("macs", 2.0, TypeError),
    ("macs", True, TypeError), ("out_words", 100, ValueError),
    ("mul_width", 12, ValueError), ("lanes", (2, 4), ValueError), ("lanes", (1, 3), ValueError),
    ("lanes", (1, 1), ValueError), ("lanes", (), TypeError), ("acc_bits", 7, ValueError), ("acc_bits", 49, ValueError),
    ("weight_words", 1000, ValueError), ("act_words", 2, ValueError), ("out_channels", 3, ValueError),
    ("bus_width", 48, ValueError), ("bus_width", 256, ValueError), ("addr_width", 33, ValueError),
    ("requant_mul_bits", 3, ValueError), ("requant_mul_bits", 17, ValueError), ("requant_shift_bits", 7, ValueError),
])
def test_bad_field_named(field, value, exc):
    with pytest.raises(exc, match=field):
        EngineParams(**{field: value})


def test_lanes_too_narrow_for_multiplier():
    with pytest.raises(ValueError, match="fewer than 4 bits"):
        EngineParams(mul_width=8, lanes=(1, 2, 4))
    assert EngineParams(mul_width=8, lanes=(1, 2)).precisions == (8, 4)


def test_requant_width_study_range():
    for m in range(4, 17):
        assert EngineParams(requant_mul_bits=m).requant_mul_bits == m


def test_mode_of_unsupported_precision():
    with pytest.raises(ValueError, match=r"\(16, 4\)"):
        EngineParams(lanes=(1, 4)).mode_of(8)


def test_replace_unknown_field():
    with pytest.raises(TypeError, match="nope"):
        EngineParams().replace(nope=1)

"""quant.study: the internal bit-width study (requant multiplier width M, accumulator width A) on exact integers."""

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from hw.golden import net as gnet
from hw.golden import quantize_multiplier, requantize, wrap
from quant import study

MODELS = Path(__file__).resolve().parent.parent / "models"


def _desc(shape, bits, signed, frac=0):
    return {"shape": list(shape), "bits": bits, "signed": signed, "frac": frac}


def _tiny(tmp_path, w, b, multiplier, shift, x, out_bits=16):
    """input (K features, 8-bit signed) -> dense 2 -> ``out_bits``-bit signed output; ``w`` is K x 2.

    With K = 2 the output has the input's shape (the study treats it as an autoencoder), otherwise a classifier.
    """
    k = len(w)
    meta = {
        "net": "tiny", "precision": {}, "inputs": ["input"], "outputs": ["fc"],
        "tensors": {"input": _desc([k], 8, True), "fc": _desc([2], out_bits, True)},
        "arrays": {"fc/w": _desc([k, 2], 8, True), "fc/b": _desc([2], 16, True),
                   "fc/multiplier": _desc([2], 16, False), "fc/shift": _desc([2], 8, True)},
        "nodes": [{"name": "input", "op": "input", "inputs": []},
                  {"name": "fc", "op": "dense", "inputs": ["input"], "weights": "fc/w", "bias": "fc/b",
                   "acc_frac": 0, "acc_bits": 32, "multiplier": "fc/multiplier", "shift": "fc/shift",
                   "relu": False}],
        "vectors": {"count": len(x), "tensors": ["input"]},
    }
    arrays = {"fc/w": np.array(w), "fc/b": np.array(b), "fc/multiplier": np.array(multiplier),
              "fc/shift": np.array(shift), "vectors/input": np.array(x)}
    gnet.save(tmp_path / "tiny", meta, arrays)
    return gnet.load(tmp_path / "tiny")


def _quiet(*_):
    pass


# -- analytic bounds ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lo, hi, bits", [(0, 0, 1), (-1, 0, 1), (0, 1, 2), (-128, 127, 8), (-129, 0, 9),
                                          (0, 128, 9), (-32768, 32767, 16), (-25600, 25400, 16)])
def test_signed_bits(lo, hi, bits):
    assert study.signed_bits(lo, hi) == bits


def test_bounds_are_exact_worst_cases_over_every_input(tmp_path):
    # K = 2 products of [-128, 127] x [-128, 127] (declared): [-32512, 32768] -> 17 bits.
    # actual weights, channel 0: 100 * x0 + 100 * x1 + 7 in [-25593, 25407] -> 16 bits; channel 1 is smaller.
    net = _tiny(tmp_path, [[100, -3], [100, 5]], [7, 0], [1, 1], [0, 0], [[0, 0]])
    bounds = study.accumulator_bounds(net)["fc"]
    assert bounds == {"reduction": 2, "bound_bits": 17, "bound_weights": 16, "exported": 32}
    # exhaustive: every one of the 65536 inputs, the exact accumulator, needs exactly bound_weights bits
    grid = np.stack(np.meshgrid(np.arange(-128, 128), np.arange(-128, 128)), -1).reshape(-1, 2)
    (lo, hi), = study.accumulator_ranges(net, {"input": grid}).values()
    assert (lo, hi) == (-25593, 25407)
    assert study.signed_bits(lo, hi) == bounds["bound_weights"]


def test_weight_bound_uses_the_asymmetric_input_range(tmp_path):
    # sum w = 256: the inputs [-128, 127] give [-32768, 32512], 16 bits; 128 * sum |w| = 32768 would claim 17
    net = _tiny(tmp_path, [[127, 0], [127, 0], [2, 0]], [0, 0], [1, 1], [0, 0], [[0, 0, 0]])
    assert study.accumulator_bounds(net)["fc"]["bound_weights"] == 16
    extremes = {"input": np.array([[-128, -128, -128], [127, 127, 127]])}
    assert study.accumulator_ranges(net, extremes)["fc"] == (-32768, 32512)


# -- variants: accumulator wrap and multiplier width -------------------------------------------------------------------

def test_narrow_accumulator_wraps_exactly_as_golden_wrap(tmp_path):
    # acc = 100 * x0 + 100 * x1 (channel 0), requantized by 1/2 (multiplier 1, shift 1)
    x = np.array([[100, 100], [-100, -100], [40, 0]])
    net = _tiny(tmp_path, [[100, 0], [100, 0]], [0, 0], [1, 1], [1, 1], x)
    acc = np.array([20000, -20000, 4000])
    # 14-bit accumulator [-8192, 8191]: 20000 -> 20000 - 16384 = 3616, -20000 -> -3616, 4000 stays
    np.testing.assert_array_equal(wrap(acc, 14), [3616, -3616, 4000])
    out = gnet.run(study.variant(net, acc_bits=14), x, return_all=False)
    np.testing.assert_array_equal(out[:, 0], [1808, -1808, 2000])
    np.testing.assert_array_equal(out[:, 0], requantize(wrap(acc, 14), 1, 1, 16, True))
    # 16 bits is the empirical need ([-20000, 20000]): no wrap, identical to the export
    assert study.accumulator_ranges(net, gnet.run(net, x))["fc"] == (-20000, 20000)
    np.testing.assert_array_equal(gnet.run(study.variant(net, acc_bits=16), x, return_all=False),
                                  gnet.run(net, x, return_all=False))
    np.testing.assert_array_equal(gnet.run(study.variant(net, acc_bits=15), x, return_all=False)[:, 0],
                                  [-6384, 6384, 2000])           # 20000 - 32768 = -12768, halved


def test_multiplier_width_uses_quantize_multiplier_of_the_exact_scale(tmp_path):
    # scale 4097 / 2**13 needs a 13-bit multiplier; at 12 bits it rounds (half-to-even) to 2048 / 2**12 = 1/2
    net = _tiny(tmp_path, [[1, 0], [0, 1]], [0, 0], [4097, 1], [13, 0], [[0, 0]])
    assert study.reference_m_bits(net) == 13
    assert study.power_of_two_scales(net) == (1, 2)
    narrow = study.variant(net, m_bits=12)
    np.testing.assert_array_equal(narrow.arrays["fc/multiplier"], [2048, 2048])
    np.testing.assert_array_equal(narrow.arrays["fc/shift"], [12, 11])
    assert (narrow.meta["arrays"]["fc/multiplier"]["bits"], net.meta["arrays"]["fc/multiplier"]["bits"]) == (12, 16)
    expected = quantize_multiplier(np.array([4097 / 8192, 1.0]), 12)
    np.testing.assert_array_equal(narrow.arrays["fc/multiplier"], expected[0])
    x = np.array([[64, 64]])                                     # 64 * 4097 / 8192 = 32.0078 -> 32 at any width
    np.testing.assert_array_equal(gnet.run(narrow, x, return_all=False), [[32, 64]])
    x = np.array([[127, 1]])                                     # 127 * 4097 / 8192 = 63.5155 -> 64; at M=12: 63.5 -> 64
    np.testing.assert_array_equal(gnet.run(narrow, x, return_all=False), [[64, 1]])
    x = np.array([[-127, 3]])                                    # -63.5155 -> -64; at M=12: -63.5 -> -64 (even)
    np.testing.assert_array_equal(gnet.run(net, x, return_all=False), [[-64, 3]])
    x = np.array([[125, 0]])                                     # 62.5152 -> 63; at M=12: 62.5 -> 62 (half to even)
    np.testing.assert_array_equal(gnet.run(net, x, return_all=False), [[63, 0]])
    np.testing.assert_array_equal(gnet.run(narrow, x, return_all=False), [[62, 0]])
    # the net is untouched
    np.testing.assert_array_equal(net.arrays["fc/multiplier"], [4097, 1])


def test_variant_refuses_unknown_layers(tmp_path):
    net = _tiny(tmp_path, [[1, 0], [0, 1]], [0, 0], [1, 1], [0, 0], [[0, 0]])
    with pytest.raises(ValueError, match=r"acc_bits names \['fc2'\].*valid: \['fc'\]"):
        study.variant(net, acc_bits={"fc2": 12})


# -- per-channel weights with real requant scales (--scales float) -----------------------------------------------------

def _half_even(value):
    """Round a Fraction half to even (Python's round of a Fraction does exactly that), independently of numpy."""
    return round(value)


def test_per_channel_rescales_every_channel_to_the_full_weight_range(tmp_path):
    # channel 0 peaks at 2, channel 1 at 127 (already full); export scale 1/16 (a power of two); both peaks go to
    # 127 + PEAK_OFFSET = 127.207, i.e. factors 63.6 and 1.0016
    w, b = [[1, -127], [-2, 5]], [5, -3]
    net = _tiny(tmp_path, w, b, [1, 1], [4, 4], [[0, 0]])
    pc, scales = study.per_channel(net)
    assert 0.2 < study.PEAK_OFFSET < 0.5
    factor, fshift = quantize_multiplier((127 + study.PEAK_OFFSET) / np.array([2, 127]), 24)
    for c in range(2):
        s_c = Fraction(int(factor[c]), 2 ** int(fshift[c]))
        expect_w = [_half_even(Fraction(w[k][c]) * s_c) for k in range(2)]
        np.testing.assert_array_equal(pc.arrays["fc/w"][:, c], expect_w)
        assert pc.arrays["fc/b"][c] == _half_even(Fraction(b[c]) * s_c)
        assert scales["fc"][c] == float(Fraction(1, 16) / s_c)     # the real scale, exact to float64
    np.testing.assert_array_equal(pc.arrays["fc/w"], [[64, -127], [-127, 5]])
    assert np.abs(pc.arrays["fc/w"]).max(axis=0).tolist() == [127, 127]
    assert study.power_of_two_scales(pc) == (0, 2)                # no power-of-two scale left
    assert pc.meta["nodes"][1]["acc_bits"] == study.accumulator_bounds(pc)["fc"]["bound_weights"]
    m_ref = pc.meta["arrays"]["fc/multiplier"]["bits"]
    assert m_ref == 32
    np.testing.assert_array_equal(pc.arrays["fc/multiplier"], quantize_multiplier(scales["fc"], 32)[0])
    np.testing.assert_array_equal(net.arrays["fc/w"], [[1, -127], [-2, 5]])    # the export is untouched
    gnet.validate(pc.meta, {**pc.arrays}, "per-channel tiny")


def test_per_channel_weights_stay_in_range_on_the_shipped_nets():
    for name in ("dscnn", "fcae"):
        net = gnet.load(MODELS / name)
        pc, scales = study.per_channel(net)
        pow2, total = study.power_of_two_scales(pc)
        dead = sum(int(np.count_nonzero(np.abs(pc.arrays[n["weights"]]).reshape(-1, len(scales[n["name"]])).max(0)
                                        == 0)) for n in pc.nodes if n["name"] in scales)
        assert pow2 == dead and dead * 20 < total, (name, pow2, dead, total)    # only all-zero channels keep 2**k
        for node in pc.nodes:
            if node["name"] not in scales:
                continue
            desc = pc.meta["arrays"][node["weights"]]
            lo, hi = 1 - 2 ** (desc["bits"] - 1), 2 ** (desc["bits"] - 1) - 1
            new, old = pc.arrays[node["weights"]], net.arrays[node["weights"]]
            assert lo <= new.min() and new.max() <= hi, node["name"]
            axes = tuple(range(new.ndim - 1)) if node["op"] != "depthwise_conv2d" else (0, 1, 3)
            peak, was = np.abs(new).max(axis=axes), np.abs(old).max(axis=axes)
            np.testing.assert_array_equal(peak[was > 0], hi)         # every live channel uses the full range
            np.testing.assert_array_equal(peak[was == 0], 0)
            np.testing.assert_array_equal(np.sign(new), np.sign(old))
        np.testing.assert_array_equal(gnet.run(net, net.vectors("input"), return_all=False),
                                      net.vectors(net.outputs[0]))  # the shipped export still reproduces its vectors


def test_variant_rounds_the_given_real_scales_not_the_stored_multipliers(tmp_path):
    net = _tiny(tmp_path, [[1, 0], [0, 1]], [0, 0], [1, 1], [4, 4], [[0, 0]])      # stored: 1/16, 1/16
    real = np.array([0.3, 0.7])
    for m in (4, 16):
        changed = study.variant(net, m_bits=m, scales={"fc": real})
        mult, shift = quantize_multiplier(real, m)
        np.testing.assert_array_equal(changed.arrays["fc/multiplier"], mult)
        np.testing.assert_array_equal(changed.arrays["fc/shift"], shift)
    np.testing.assert_array_equal(study.variant(net, m_bits=4, scales={"other": real}).arrays["fc/multiplier"], [8, 8])


def _exhaustive_tiny(tmp_path):
    """The per-channel tiny net, every one of the 65536 8-bit inputs, and the exact rational output per M."""
    net = _tiny(tmp_path, [[1, -127], [-2, 5]], [5, -3], [1, 1], [4, 4], [[0, 0]])
    pc, scales = study.per_channel(net)
    grid = np.stack(np.meshgrid(np.arange(-128, 128), np.arange(-128, 128)), -1).reshape(-1, 2)
    acc = grid @ pc.arrays["fc/w"] + pc.arrays["fc/b"]
    return pc, scales, grid, acc


def test_m16_matches_the_exact_scale_within_the_documented_bound_and_m4_does_not(tmp_path):
    pc, scales, grid, acc = _exhaustive_tiny(tmp_path)
    real = [Fraction(float(s)) for s in scales["fc"]]
    exact = np.array([[_half_even(int(a) * real[c]) for c, a in enumerate(row)] for row in acc])
    # the reference (exact scales as 32-bit multipliers) is the exact rational result on every input
    np.testing.assert_array_equal(gnet.run(pc, grid, return_all=False), exact)
    differ = {}
    for m in (4, 16):
        out = gnet.run(study.variant(pc, m_bits=m, scales=scales), grid, return_all=False)
        mult, shift = quantize_multiplier(scales["fc"], m)
        approx = [Fraction(int(mult[c]), 2 ** int(shift[c])) for c in range(2)]
        for c in range(2):
            assert abs(approx[c] - real[c]) <= real[c] / 2 ** m    # quantize_multiplier's relative bound
        # at most |acc| * |s_M - s| plus the rounding step away; at M = 16, |acc * s| < 2**15 keeps it within one step
        bound = np.floor(np.abs(acc) * np.abs(np.array([float(a - r) for a, r in zip(approx, real)]))) + 1
        assert np.all(np.abs(out - exact) <= bound)
        assert m < 16 or np.abs(out - exact).max() <= 1
        # an output differs only where a rounding boundary lies between acc * s and acc * s_M
        for i, c in zip(*np.nonzero(out != exact)):
            value, moved = int(acc[i, c]) * real[c], int(acc[i, c]) * approx[c]
            assert _half_even(value) != _half_even(moved)
            assert abs(value - moved) >= abs(abs(value - round(value)) - Fraction(1, 2))
        differ[m] = int(np.count_nonzero(out != exact))
    assert differ[16] < differ[4]
    assert differ[4] > 1000                                          # M = 4 visibly changes the outputs
    assert differ[16] * 10 < differ[4]                              # ... and M = 16 an order of magnitude less


def test_float_study_sweeps_the_real_scales_against_the_exact_scale_net(tmp_path):
    pc, scales, grid, _ = _exhaustive_tiny(tmp_path)
    net = gnet.load(tmp_path / "tiny")
    x = grid[(np.abs(grid) <= 8).all(axis=1)]                     # |acc * s| < 140: M = 16 is exact here, M = 4 not
    result = study.study(net, x, m_bits=(4, 16), acc_below=1, log=_quiet, scales="float")
    assert result["scales_mode"] == "float" and result["full_widths_exact"]
    assert "2 of 2 per-channel requant scales are not powers of two" in result["scales"]
    exact = gnet.run(pc, x, return_all=False)
    for row in result["m_sweep"]:
        out = gnet.run(study.variant(pc, m_bits=row["m_bits"], scales=scales), x, return_all=False)
        assert row["layer_match"]["fc"] == np.mean(out == exact)
    assert [row["output_exact"] for row in result["m_sweep"]] == [False, True]
    assert result["recommendation"]["m_bits"] == 16
    shipped = gnet.run(net, x, return_all=False)                   # the export as is, for context
    assert result["export"]["layer_match"]["fc"] == np.mean(shipped == exact) < 1
    with pytest.raises(ValueError, match="scales must be 'export' or 'float', not 'real'"):
        study.study(net, x, m_bits=(4,), log=_quiet, scales="real")


# -- recommendation logic ----------------------------------------------------------------------------------------------

def test_smallest_within_needs_every_wider_width_to_pass():
    assert study.smallest_within([4, 5, 6, 7, 8], [False, True, False, True, True]) == 7   # lucky 5 is not taken
    assert study.smallest_within([8, 7, 6, 5, 4], [True] * 5) == 4                        # order does not matter
    assert study.smallest_within([4, 5, 6], [True, True, False]) is None


def test_within_counts_whole_samples_against_0_1_pp():
    ref = {"agree": 1000, "n": 1000, "correct": 900}
    assert study.within({"agree": 990, "n": 1000, "correct": 899}, ref, labelled=True)         # 0.1 pp
    assert not study.within({"agree": 990, "n": 1000, "correct": 898}, ref, labelled=True)     # 0.2 pp
    assert not study.within({"agree": 998, "n": 999, "correct": 899}, dict(ref, n=999, correct=900), True)  # 0.1001
    assert study.within({"agree": 990, "n": 1000, "correct": 950}, ref, labelled=True)         # better is fine
    # without labels: every output integer must be identical; equal top-1 decisions are not enough
    assert not study.within({"agree": 1000, "n": 1000, "output_exact": False}, ref, labelled=False)
    assert study.within({"agree": 1000, "n": 1000, "output_exact": True}, ref, labelled=False)


def test_at_chance(tmp_path):
    classifier = _tiny(tmp_path, [[1, 0], [0, 1], [0, 0]], [0, 0], [1, 1], [0, 0], [[0, 0, 0]])
    assert study.at_chance(classifier, {"agree": 20, "n": 20, "correct": 11})         # 55 % of 2 classes
    assert not study.at_chance(classifier, {"agree": 20, "n": 20, "correct": 12})     # 60 %
    autoencoder = _tiny(tmp_path, [[1, 0], [0, 1]], [0, 0], [1, 1], [0, 0], [[0, 0]])
    assert study.at_chance(autoencoder, {"auc": 0.55}) and not study.at_chance(autoencoder, {"auc": 0.56})


def test_auc_counts_ties_half():
    assert study.auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    # anomalies 2, 0 against normals 1, 2: 2 > 1 counts 1, 2 == 2 counts 1/2, 0 beats neither: 1.5 / 4
    assert study.auc([1, 2, 2, 0], [0, 1, 0, 1]) == 0.375
    with pytest.raises(ValueError, match="AUC needs both classes; got 0 anomalous and 2 normal"):
        study.auc([1, 2], [0, 0])


def test_study_recommends_the_width_where_agreement_starts(tmp_path):
    # channel 0 needs M = 13 (scale 4097 / 2**13; at M <= 12 it becomes 1/2 and 125 gives 62, not 63); the
    # accumulators (identity weights) lie in [-128, 125]: 8 bits, wrap-around starts at 7
    x = np.array([[125, 1], [-128, 2], [3, -4]])
    net = _tiny(tmp_path, [[1, 0], [0, 1]], [0, 0], [4097, 1], [13, 0], x)
    result = study.study(net, x, log=_quiet)
    assert [r["m_bits"] for r in result["m_sweep"]] == list(range(4, 17))
    assert [r["agrees"] for r in result["m_sweep"]] == [False] * 9 + [True] * 4
    assert result["layers"]["fc"]["empirical"] == 8 and result["acc_wrap_onset"] == 8
    acc = result["acc_sweep"]
    assert [r["acc_bits"] for r in acc] == list(range(17, 3, -1))   # from the 17-bit bound to 4 below the onset
    assert [r["agrees"] for r in acc] == [True] * 10 + [False] * 4
    assert result["recommendation"]["m_bits"] == 13 and result["recommendation"]["acc_bits"] == 8
    assert result["recommendation"]["joint_ok"] is True and result["full_widths_exact"]
    assert result["labelled"] is False and "exact agreement" in result["criterion"]
    # at A = 7 ([-64, 63]) the two channel-0 accumulators outside wrap, 125 -> -3 and -128 -> 0: 4 of 6 outputs stay
    assert acc[-4]["acc_bits"] == 7 and acc[-4]["layer_match"]["fc"] == 4 / 6
    json.dumps(result)                                             # JSON-ready


def test_study_with_labels_recommends_by_accuracy_unless_at_chance(tmp_path):
    # a 2-class classifier: class scores are x0 and x1 (multiplier 1, shift 0); the accumulators lie in [0, 100] (8
    # bits). The reference gets sample 3 wrong (100 > 60, label 1); a 7- or 6-bit accumulator wraps 100 to -28 and
    # only that decision flips (to the right class): accuracy rises, agreement drops. At 5 bits 30 wraps to -2 too.
    x = np.array([[30, 0, 0], [0, 30, 0], [10, 20, 0], [100, 60, 0]])
    net = _tiny(tmp_path, [[1, 0], [0, 1], [0, 0]], [0, 0], [1, 1], [0, 0], x)
    result = study.study(net, x, labels=np.array([0, 1, 1, 1]), m_bits=(4, 5), log=_quiet)
    assert result["task"] == "classifier" and result["reference"]["correct"] == 3
    acc = {r["acc_bits"]: r for r in result["acc_sweep"]}
    assert [acc[a]["correct"] for a in (8, 7, 6, 5)] == [3, 4, 4, 0]
    assert [acc[a]["agree"] for a in (8, 7, 6)] == [4, 3, 3]
    rec = result["recommendation"]
    assert rec["by_accuracy"] == [4, 6] and rec["by_agreement"] == [4, 8]
    assert (rec["m_bits"], rec["acc_bits"], rec["joint_ok"]) == (4, 6, True)
    assert not result["reference_at_chance"] and "within 0.1 pp" in result["criterion"]
    # the same net with labels it gets 1 of 4 right (25 %, chance is 50 %): the accuracy cannot measure a drop
    chance = study.study(net, x, labels=np.array([1, 0, 0, 0]), m_bits=(4,), log=_quiet)
    assert chance["reference_at_chance"] and "at chance level" in chance["criterion"]
    assert (chance["recommendation"]["m_bits"], chance["recommendation"]["acc_bits"]) == (4, 8)


def test_without_labels_equal_top1_decisions_are_not_enough(tmp_path):
    # a 7-bit accumulator wraps 120 -> -8 and 70 -> -58: class 0 still wins, but the outputs changed
    x = np.array([[120, 70, 0], [5, 3, 0]])
    net = _tiny(tmp_path, [[1, 0], [0, 1], [0, 0]], [0, 0], [1, 1], [0, 0], x)
    result = study.study(net, x, m_bits=(4,), log=_quiet)
    a7 = next(r for r in result["acc_sweep"] if r["acc_bits"] == 7)
    assert (a7["agree"], a7["output_exact"], a7["agrees"]) == (2, False, False)
    assert a7["layer_match"]["fc"] == 2 / 4
    assert result["recommendation"]["acc_bits"] == 8


def test_autoencoder_auc_is_per_recording(tmp_path):
    # out = (x0, 0): the anomaly score of a vector is x1**2 / 2. Recording 0 (normal) holds x1 = 1, 5 (mean score
    # 6.5), recording 1 (anomalous) x1 = 2, 6 (mean 10): AUC 1. Per vector it would be 3/4 (2 < 12.5).
    x = np.array([[0, 1], [0, 2], [0, 5], [0, 6]])
    net = _tiny(tmp_path, [[1, 0], [0, 0]], [0, 0], [1, 1], [0, 0], x)
    labels, groups = np.array([0, 1, 0, 1]), np.array([0, 1, 0, 1])
    assert study.auc([0.5, 2, 12.5, 18], labels) == 0.75
    result = study.study(net, x, labels=labels, groups=groups, m_bits=(4,), log=_quiet)
    assert result["task"] == "autoencoder" and result["reference"]["auc"] == 1.0
    assert "AUC within 0.001" in result["criterion"]


def test_labelled_data_is_quantized_and_checked_against_the_net(tmp_path, monkeypatch):
    from quant import data
    x = np.array([[0, 0, 0]])
    net = _tiny(tmp_path, [[1, 0], [0, 1], [0, 0]], [0, 0], [1, 1], [0, 0], x)
    features = np.array([[1.5, -0.5, 2.5], [200.0, -300.0, 0.0]], np.float32)

    def fake(name, root, classes):
        return data.Dataset(f"proxy (synthesized, not MLPerf): {root}", classes, features, np.zeros(2, np.int64),
                            features, np.zeros(2, np.int64), features, np.array([1, 0]))

    monkeypatch.setattr(data, "load", lambda name, root: fake(name, root, ("a", "b")))
    got, labels, groups, what = study._load_data("dscnn", net, tmp_path, 200, _quiet)
    np.testing.assert_array_equal(got, [[2, 0, 2], [127, -128, 0]])      # round half to even, saturate to 8 bits
    np.testing.assert_array_equal(labels, [1, 0])
    assert groups is None and what == f"proxy (synthesized, not MLPerf): {tmp_path}, test split, 2 samples"
    monkeypatch.setattr(data, "load", lambda name, root: fake(name, root, ("a", "b", "c")))
    with pytest.raises(ValueError, match="tiny has 2 outputs but the data set .* has 3 classes"):
        study._load_data("dscnn", net, tmp_path, 200, _quiet)


# -- the shipped nets --------------------------------------------------------------------------------------------------

def test_shipped_dscnn_full_widths_and_power_of_two_scales_reproduce_the_export():
    net = gnet.load(MODELS / "dscnn")
    x = net.vectors("input")[:2]
    result = study.study(net, x, m_bits=(4, 16), acc_below=1, log=_quiet)
    assert result["full_widths_exact"]
    for row in result["m_sweep"]:                                  # power-of-two scales: any M is exact
        assert set(row["layer_match"].values()) == {1.0}
    onset = result["acc_wrap_onset"]
    assert onset == max(lay["empirical"] for lay in result["layers"].values())
    for row in result["acc_sweep"]:
        assert (set(row["layer_match"].values()) == {1.0}) == (row["acc_bits"] >= onset)
    for lay in result["layers"].values():
        assert lay["empirical"] <= lay["bound_weights"] <= lay["bound_bits"]
        assert lay["bound_weights"] <= lay["exported"]


# -- command line ------------------------------------------------------------------------------------------------------

def test_cli_help_and_unknown_net(capsys):
    with pytest.raises(SystemExit) as exc:
        study.main(["--help"])
    assert exc.value.code == 0
    help_text = capsys.readouterr().out
    assert "--data-dir" in help_text and "--scales {export,float}" in help_text
    assert study.main(["lenet"]) == 2
    assert "unknown NET 'lenet'; valid NETs are: dscnn, resnet8, mobilenetv1, fcae, or all" in capsys.readouterr().err
    assert study.main([]) == 2
    assert "NET is missing; valid NETs are: dscnn" in capsys.readouterr().err
    assert study.main(["all", "--data-dir", "somewhere"]) == 2
    assert "--model and --data-dir need a single NET" in capsys.readouterr().err


def test_cli_missing_export_says_how_to_make_it(tmp_path, capsys):
    assert study.main(["dscnn", "--model", str(tmp_path / "nothere"), "--out", str(tmp_path)]) == 2
    assert "export the net first" in capsys.readouterr().err


def test_cli_writes_table_json_and_png(tmp_path, capsys):
    x = np.array([[125, 1], [-128, 2], [3, -4]])
    _tiny(tmp_path, [[1, 0], [0, 1]], [0, 0], [4097, 1], [13, 0], x)
    out = tmp_path / "study"
    assert study.main(["tiny", "--model", str(tmp_path / "tiny"), "--out", str(out), "--m-bits", "12-14",
                       "--label", "hand-made test net"]) == 0
    text = capsys.readouterr().out
    assert "no labelled data: the export's 3 stored test vectors, agreement only" in text
    assert "recommendation (exact agreement" in text and "M = 13, A = 8" in text
    result = json.loads((out / "tiny.json").read_text())
    assert result["model"].endswith("hand-made test net") and result["recommendation"]["m_bits"] == 13
    assert (out / "tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert study.main(["tiny", "--model", str(tmp_path / "tiny"), "--out", str(out), "--m-bits", "4-16",
                       "--scales", "float", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "--scales float: per-channel weights and real requant scales" in text
    result = json.loads((out / "tiny-float.json").read_text())
    assert result["scales_mode"] == "float" and result["export"] is not None
    assert [r["m_bits"] for r in result["m_sweep"]] == list(range(4, 17))
    assert (out / "tiny-float.png").is_file() and json.loads((out / "tiny.json").read_text())["scales_mode"] == "export"

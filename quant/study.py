"""Internal bit-width study: how narrow may the requant multiplier and the accumulator be? (``make study NET=...``)

For an exported integer net (``models/<net>.{json,npz}``, :mod:`hw.golden.net`) the study runs the integer model with
:mod:`hw.golden` while it

* sweeps the **requantization multiplier width M**: every requant node's exact real scale ``multiplier / 2**shift``
  (per channel) is re-approximated with an M-bit multiplier by :func:`hw.golden.quantize_multiplier`, with the
  accumulators as exported (never wrapping);
* sweeps the **accumulator width A** (one width for every conv / depthwise / dense node, as the engines have one
  ``acc_bits`` parameter): each node's accumulator is wrapped to A bits by :func:`hw.golden.wrap` (through the
  ``acc_bits`` field the golden layers honour), exactly as an A-bit hardware accumulator would, with the export's
  own multipliers. The sweep starts at the widest never-overflow bound of any layer and ends a few bits below the
  width where wrap-around starts on the data.

**Power-of-two scales and ``--scales float``.** Every requant scale of today's exports is a power of two (QKeras
power-of-two grids), which any M reproduces exactly, so by default (``--scales export``) the M sweep is flat. With
``--scales float`` the study first applies :func:`per_channel`: each output channel's weights are rescaled to the full
weight range (per-channel max-abs weight quantization, the standard thing hardware sees) and the layer's requant scale
is divided by the same real factor, which makes (nearly) every scale a real number. The M sweep then rounds those real
scales to M-bit multipliers (:func:`hw.golden.quantize_multiplier`), and the reference is the same rescaled net with
*exact* scales (the real scales as 32-bit multipliers, relative error at most ``2**-32``; :func:`per_channel` states
the condition). The accumulator sweep runs on the rescaled net too, and the export as is is evaluated once for
context. Files: ``<out>/<net>-float.{json,png}``. The shipped exports and their bit-exact path are not touched.

Each point is compared with the **reference**, the export run as is: top-1 agreement for classifiers, the change of
the anomaly score (mean squared reconstruction error) for the autoencoder, and the exact-match fraction of every
node's output. With a labelled data set (``--data-dir``, or the proxy set under ``build/data/<net>-proxy/``) the
accuracy (AUC for the autoencoder, per recording) is measured too; without one the study reports agreement only.

The recommendation is the smallest M and the smallest A for which this point *and every wider one* in the sweep stays
within 0.1 percentage points of the reference accuracy (AUC within 0.001), or, when only agreement is measured (no
labels, or a reference accuracy at chance level such as an untrained net's), agrees exactly: every output integer
equals the reference's. The pair is then run together.

Per layer the study also gives the analytic accumulator widths that can never overflow, next to the empirical one:

* ``bound_bits``: from the bit-widths alone: ``K`` products of an input of the input tensor's range and a weight of
  the weight array's declared range, plus the layer's bias (``K`` = reduction length);
* ``bound_weights``: from the actual weights: per output channel ``sum max(w*lo, w*hi) + b`` (and the minimum) over
  every input in the input tensor's range ``[lo, hi]`` (padding adds zeros, which lie in that range);
* ``exported``: the ``acc_bits`` the exporter recorded; ``empirical``: the width the data set actually needs.

Output: a table on stdout, ``<out>/<net>.json`` and ``<out>/<net>.png`` (default ``build/study``).
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

from hw.golden import conv2d, dense, depthwise_conv2d, quantize_multiplier, requantize, value_range
from hw.golden import net as golden_net

__all__ = ["NETS", "M_BITS", "TOLERANCE_PP", "AUC_TOLERANCE", "signed_bits", "reduction_length",
           "accumulator_bounds", "accumulator_ranges", "power_of_two_scales", "per_channel", "reference_m_bits",
           "variant", "task_of", "evaluate", "within", "smallest_within", "at_chance", "auc", "study", "table", "plot",
           "main"]

NETS = ("dscnn", "resnet8", "mobilenetv1", "fcae")
M_BITS = tuple(range(4, 17))
TOLERANCE_PP = 0.1
"""Largest accuracy drop (percentage points) a recommended width may cost."""
AUC_TOLERANCE = 0.001
"""Largest AUC drop a recommended width may cost (the autoencoder's 0.1 pp)."""
ACC_BELOW = 4
"""How many bits below the onset of wrap-around the accumulator sweep goes."""
WEIGHTED = ("conv2d", "depthwise_conv2d", "dense")
PEAK_OFFSET = (2 ** 0.5 - 1) / 2
"""Where :func:`per_channel` puts a channel's peak weight: ``hi + 0.2071``, which still rounds to ``hi``."""


# -- analytic and empirical accumulator widths -------------------------------------------------------------------------

def signed_bits(lo, hi):
    """Smallest ``B`` whose ``B``-bit signed range ``[-2**(B-1), 2**(B-1) - 1]`` holds ``[lo, hi]`` (at least 1)."""
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ValueError(f"signed_bits needs lo <= hi, got lo={lo}, hi={hi}")
    return max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1


def _weighted_nodes(net):
    return [node for node in net.nodes if node["op"] in WEIGHTED]


def _requant_nodes(net):
    return [node for node in net.nodes if "multiplier" in node]


def reduction_length(net, node):
    """Products summed into one accumulator of ``node``: ``KH*KW*Cin`` (conv), ``KH*KW`` (depthwise), ``In`` (dense)."""
    shape = net.arrays[node["weights"]].shape
    if node["op"] == "conv2d":
        return shape[0] * shape[1] * shape[2]
    if node["op"] == "depthwise_conv2d":
        return shape[0] * shape[1]
    return shape[0]


def accumulator_bounds(net):
    """Per weighted node: the accumulator widths that can never overflow, whatever the input.

    Returns ``{node: {"reduction": K, "bound_bits": B1, "bound_weights": B2, "exported": acc_bits}}``; see the module
    docstring for what each bound assumes. ``B2 <= B1`` always.
    """
    bounds = {}
    for node in _weighted_nodes(net):
        x = net.tensors[node["inputs"][0]]
        xlo, xhi = value_range(x["bits"], x["signed"])
        wdesc = net.meta["arrays"][node["weights"]]
        wlo, whi = value_range(wdesc["bits"], wdesc["signed"])
        w, b = net.arrays[node["weights"]], net.arrays[node["bias"]]
        k = reduction_length(net, node)
        corners = [xlo * wlo, xlo * whi, xhi * wlo, xhi * whi]
        from_bits = signed_bits(k * min(corners) + min(int(b.min()), 0), k * max(corners) + max(int(b.max()), 0))
        # actual weights: reduce every axis but the output channel's
        w = w[..., 0] if node["op"] == "depthwise_conv2d" and w.ndim == 4 else w
        axes = tuple(range(w.ndim - 1))
        high = np.maximum(w * xlo, w * xhi).sum(axis=axes) + b
        low = np.minimum(w * xlo, w * xhi).sum(axis=axes) + b
        bounds[node["name"]] = {"reduction": int(k), "bound_bits": from_bits,
                                "bound_weights": signed_bits(min(int(low.min()), 0), max(int(high.max()), 0)),
                                "exported": node.get("acc_bits")}
    return bounds


def _accumulate(net, node, x):
    """The exact (never wrapped) accumulator of a weighted ``node`` on its input ``x``."""
    w, b = net.arrays[node["weights"]], net.arrays[node["bias"]]
    if node["op"] == "dense":
        return dense(x, w, b)
    layer = conv2d if node["op"] == "conv2d" else depthwise_conv2d
    return layer(x, w, b, tuple(node["strides"]), node["padding"])


def accumulator_ranges(net, values):
    """Per weighted node: ``(min, max)`` of its exact accumulator, given every tensor of a reference run (``values``)."""
    ranges = {}
    for node in _weighted_nodes(net):
        acc = _accumulate(net, node, values[node["inputs"][0]])
        ranges[node["name"]] = (int(acc.min()), int(acc.max()))
    return ranges


# -- variants of the net -----------------------------------------------------------------------------------------------

def power_of_two_scales(net):
    """``(count, total)``: how many per-channel requant scales of ``net`` are exact powers of two (multiplier 2**k).

    Such a scale is reproduced exactly by a multiplier of any width M >= 1, so the M sweep can only show an effect on
    exports that carry real (trained) scales.
    """
    mults = [net.arrays[n["multiplier"]] for n in _requant_nodes(net)]
    count = sum(int(np.count_nonzero((m > 0) & ((m & (m - 1)) == 0))) for m in mults)
    return count, sum(int(m.size) for m in mults)


def reference_m_bits(net):
    """Width of the widest requant multiplier in the export (1 for the power-of-two exports of today)."""
    return max((int(net.arrays[n["multiplier"]].max()).bit_length() for n in _requant_nodes(net)), default=1)


def variant(net, m_bits=None, acc_bits=None, max_shift=62, scales=None):
    """A copy of ``net`` as hardware with M-bit requant multipliers and/or A-bit accumulators would compute it.

    Parameters
    ----------
    net : hw.golden.net.Net
    m_bits : int, optional
        Re-approximate every requant node's exact scale ``multiplier / 2**shift`` (per channel) with an ``m_bits``-bit
        multiplier (:func:`hw.golden.quantize_multiplier`); ``None`` keeps the export's multipliers.
    acc_bits : int or dict of str to int, optional
        Accumulator width of every weighted node (an int) or of the named ones (a dict); ``None`` keeps the export's.
    max_shift : int
        Largest right shift the requantizer supports (passed to :func:`hw.golden.quantize_multiplier`).
    scales : dict of str to float array, optional
        Real per-channel requant scales of the named nodes (from :func:`per_channel`), used by ``m_bits`` instead of
        ``multiplier / 2**shift``.

    Returns
    -------
    hw.golden.net.Net
        Shares the unchanged arrays with ``net``; run it with :func:`hw.golden.net.run`. The JSON description of the
        multiplier and shift arrays is updated, so the variant can be saved with :func:`hw.golden.net.save`.
    """
    meta = copy.deepcopy(net.meta)
    arrays = dict(net.arrays)
    if m_bits is not None:
        for node in _requant_nodes(net):
            mult, shift = net.arrays[node["multiplier"]], net.arrays[node["shift"]]
            scale = np.ldexp(mult.astype(np.float64), -shift)          # exact: multipliers stay below 2**53
            if scales is not None and node["name"] in scales:
                scale = np.asarray(scales[node["name"]], np.float64).reshape(mult.shape)
            new_mult, new_shift = quantize_multiplier(scale, m_bits, max_shift)
            arrays[node["multiplier"]] = np.asarray(new_mult, np.int64).reshape(mult.shape)
            arrays[node["shift"]] = np.asarray(new_shift, np.int64).reshape(shift.shape)
            meta["arrays"][node["multiplier"]]["bits"] = int(m_bits)
            meta["arrays"][node["shift"]]["bits"] = max(meta["arrays"][node["shift"]]["bits"],
                                                        signed_bits(new_shift.min(), new_shift.max()))
    if acc_bits is not None:
        per_node = acc_bits if isinstance(acc_bits, dict) else {n["name"]: acc_bits for n in _weighted_nodes(net)}
        known = {n["name"] for n in _weighted_nodes(net)}
        unknown = sorted(set(per_node) - known)
        if unknown:
            raise ValueError(f"acc_bits names {unknown}, which are not conv/depthwise/dense nodes of {net.name}; "
                             f"valid: {sorted(known)}")
        for node in meta["nodes"]:
            if node["name"] in per_node:
                node["acc_bits"] = int(per_node[node["name"]])
    return golden_net.Net(meta, arrays)


def per_channel(net, max_shift=62):
    """Per-channel weight quantization of ``net``: every output channel's weights rescaled to the full weight range.

    For each conv / depthwise / dense node with a requant multiplier, output channel ``c`` gets the real factor
    ``s_c = (hi + PEAK_OFFSET) / max|w_c|`` (``hi`` the largest weight of the declared width; ``s_c = 1`` for an
    all-zero channel), made a 24-bit multiplier + shift by :func:`hw.golden.quantize_multiplier` so that it is applied
    exactly by :func:`hw.golden.requantize`: ``w' = requantize(w, s_c)`` (round half to even, saturated to the weight
    width), ``b' = requantize(b, s_c)``; the channel's peak becomes ``hi`` (full range). The node's real requant scale
    becomes ``scale_c / s_c`` (``scale_c`` = the export's ``multiplier / 2**shift``), not a power of two. The output
    grid of every node is unchanged (add inputs stay aligned); nodes without weights (a ``requant`` after an ``add``)
    keep their scales.

    Why the peak goes to ``hi + PEAK_OFFSET`` (irrational, inside ``hi``'s rounding interval) rather than to ``hi``:
    the export's weights are small integers, so ``hi / peak`` would be a ratio of small integers (for 4-bit weights and
    a power-of-two peak, ``7 / 2**k``), the real scale ``2**t / 7`` would put many accumulators (multiples of 7)
    exactly on a rounding tie, and every finite M would break all of them the same way (up or down, by M mod 3): the M
    sweep would measure tie-breaking, not precision (seen on fcae and dscnn before the offset). A trained net's scales are generic reals; the offset makes these generic too.

    Returns
    -------
    net : hw.golden.net.Net
        The rescaled net. Its accumulators get the never-overflow width from the new weights (``bound_weights``) and
        its multipliers are the real scales quantized to ``min(32, 62 - A)`` bits (the widest
        :func:`hw.golden.quantize_multiplier` gives and :func:`hw.golden.requantize` can multiply without exceeding
        2**62): a relative scale error of at most ``2**-M``, which is the study's *exact-scale* reference.
    scales : dict of str to float64 array
        Per rescaled node, the real per-channel requant scale (pass it to :func:`variant`).
    """
    meta = copy.deepcopy(net.meta)
    arrays = dict(net.arrays)
    scales = {}
    for node in _requant_nodes(net):
        if node["op"] not in WEIGHTED:
            continue
        w, b = net.arrays[node["weights"]], net.arrays[node["bias"]]
        wdesc = meta["arrays"][node["weights"]]
        _, hi = value_range(wdesc["bits"], wdesc["signed"])
        depthwise = node["op"] == "depthwise_conv2d" and w.ndim == 4
        cw = w[..., 0] if depthwise else w
        peak = np.abs(cw).max(axis=tuple(range(cw.ndim - 1)))
        real = np.where(peak > 0, (hi + PEAK_OFFSET) / np.maximum(peak, 1), 1.0)
        factor, fshift = quantize_multiplier(real, 24, max_shift)
        factor, fshift = np.asarray(factor).reshape(-1), np.asarray(fshift).reshape(-1)
        new_w = requantize(cw, factor, fshift, wdesc["bits"], wdesc["signed"])
        arrays[node["weights"]] = new_w[..., None] if depthwise else new_w
        new_b = requantize(b, factor, fshift, 62, True)
        arrays[node["bias"]] = new_b
        bdesc = meta["arrays"][node["bias"]]
        bdesc["bits"] = max(bdesc["bits"], signed_bits(min(int(new_b.min()), 0), max(int(new_b.max()), 0)))
        mult, shift = net.arrays[node["multiplier"]], net.arrays[node["shift"]]
        scales[node["name"]] = (np.ldexp(mult.astype(np.float64), -shift)
                                / np.ldexp(factor.astype(np.float64), -fshift)).reshape(mult.shape)
    rescaled = golden_net.Net(meta, arrays)
    bounds = accumulator_bounds(rescaled)
    for node in meta["nodes"]:
        if node["name"] in scales:
            acc = max(bounds[node["name"]]["bound_weights"], 2)
            node["acc_bits"] = acc
            m_ref = min(32, 62 - acc)
            if m_ref < 16:
                raise ValueError(f"{net.name}/{node['name']}: a {acc}-bit accumulator leaves only {m_ref} multiplier "
                                 f"bits below 2**62 for the exact-scale reference; the layer cannot be rescaled")
            mult, shift = quantize_multiplier(scales[node["name"]], m_ref, max_shift)
            arrays[node["multiplier"]] = np.asarray(mult, np.int64).reshape(scales[node["name"]].shape)
            arrays[node["shift"]] = np.asarray(shift, np.int64).reshape(scales[node["name"]].shape)
            meta["arrays"][node["multiplier"]]["bits"] = m_ref
            meta["arrays"][node["shift"]]["bits"] = max(meta["arrays"][node["shift"]]["bits"],
                                                        signed_bits(int(np.min(shift)), int(np.max(shift))))
    return golden_net.Net(meta, arrays), scales


def _min_m(net, real):
    """Narrowest multiplier width among the rescaled nodes of a :func:`per_channel` net."""
    return min((net.meta["arrays"][n["multiplier"]]["bits"] for n in _requant_nodes(net) if n["name"] in real),
               default=reference_m_bits(net))


def _shift_range(net):
    """``(min, max)`` requant shift over all channels of all requant nodes (what the shifter must do)."""
    shifts = [net.arrays[n["shift"]] for n in _requant_nodes(net)]
    return (int(min(s.min() for s in shifts)), int(max(s.max() for s in shifts))) if shifts else (0, 0)


# -- metrics -----------------------------------------------------------------------------------------------------------

def task_of(net):
    """``"autoencoder"`` when the output has the input's shape (fcae), else ``"classifier"``."""
    same = net.tensors[net.outputs[0]]["shape"] == net.tensors[net.inputs[0]]["shape"]
    return "autoencoder" if same else "classifier"


def _scores(net, x, out):
    """Anomaly score per sample: mean squared error between input and reconstruction, in real units."""
    fin, fout = net.tensors[net.inputs[0]]["frac"], net.tensors[net.outputs[0]]["frac"]
    diff = np.ldexp(x.astype(np.float64), -fin) - np.ldexp(out.astype(np.float64), -fout)
    return (diff.reshape(len(diff), -1) ** 2).mean(axis=1)


def auc(scores, labels):
    """Area under the ROC curve of ``scores`` for ``labels`` (1 = anomaly): P(anomaly > normal), ties count half."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        raise ValueError(f"AUC needs both classes; got {len(pos)} anomalous and {len(neg)} normal samples")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _recording_auc(scores, labels, groups):
    if groups is None:
        return auc(scores, labels)
    ids = np.unique(groups)
    return auc([scores[groups == g].mean() for g in ids], [labels[groups == g][0] for g in ids])


def evaluate(net, x, reference, values, labels=None, groups=None):
    """Compare one run (``values``, every tensor) with the ``reference`` run on the same inputs ``x``.

    Returns a dict: ``layer_match`` (per node, fraction of output integers equal to the reference), ``n`` samples,
    ``output_exact`` (every integer of the net's output equals the reference's); for a classifier ``agree`` (top-1
    decisions equal to the reference's) and, with ``labels``, ``correct``; for the autoencoder ``score_change`` (mean relative change of the anomaly score)
    and, with ``labels``, ``auc``.
    """
    names = [n["name"] for n in net.nodes if n["op"] != "input"]
    row = {"n": int(len(x)),
           "layer_match": {name: float(np.mean(values[name] == reference[name])) for name in names}}
    out, ref = values[net.outputs[0]], reference[net.outputs[0]]
    row["output"] = net.outputs[0]
    row["output_exact"] = bool(np.array_equal(out, ref))
    if task_of(net) == "classifier":
        pred = out.argmax(axis=-1)
        row["agree"] = int(np.count_nonzero(pred == ref.argmax(axis=-1)))
        if labels is not None:
            row["correct"] = int(np.count_nonzero(pred == labels))
    else:
        score, ref_score = _scores(net, x, out), _scores(net, x, ref)
        row["score_change"] = float(np.mean(np.abs(score - ref_score) / np.maximum(ref_score, np.finfo(float).tiny)))
        if labels is not None:
            row["auc"] = _recording_auc(score, labels, groups)
    return row


def within(row, reference, labelled):
    """Whether a sweep point is good enough: within 0.1 pp (AUC 0.001) of the reference, or exact agreement.

    Exact agreement (``labelled=False``) means every output integer equals the reference's, not only the top-1
    decisions: a handful of unlabelled samples on which an untrained net always picks the same class would otherwise
    let almost any width pass. Accuracy is compared in whole samples: a drop of ``d`` correct samples out of ``n`` is allowed when
    ``d * 100 / n <= 0.1``, i.e. ``d * 1000 <= n`` (exact integer arithmetic, no float threshold).
    """
    if not labelled:
        return row["output_exact"]
    if "agree" in row:
        return (reference["correct"] - row["correct"]) * round(100 / TOLERANCE_PP) <= row["n"]
    return reference["auc"] - row["auc"] <= AUC_TOLERANCE + 1e-12


def smallest_within(widths, ok):
    """Smallest width ``w`` of the sweep such that ``ok`` holds at ``w`` and at every wider width; None if none.

    ``widths`` and ``ok`` are parallel sequences. Requiring every wider width too keeps a lucky narrow point (a wrap
    that happens to land on the right answer) from being recommended.
    """
    best = None
    for width, good in sorted(zip(widths, ok), reverse=True):
        if not good:
            break
        best = width
    return best


# -- data --------------------------------------------------------------------------------------------------------------

def _subset(count, limit, groups=None):
    """Evenly spaced indices (of samples, or of whole recordings when ``groups`` is given), at most ``limit``."""
    if groups is None:
        return np.unique(np.linspace(0, count - 1, min(limit, count)).round().astype(int)) if count else np.arange(0)
    ids = np.unique(groups)
    keep = ids[np.unique(np.linspace(0, len(ids) - 1, min(limit, len(ids))).round().astype(int))]
    return np.flatnonzero(np.isin(groups, keep))


def _load_data(name, net, data_dir, samples, log):
    """``(x, labels, groups, dataset description)``: the labelled test split, or the export's vectors unlabelled."""
    proxy = Path("build/data") / f"{name}-proxy"
    if data_dir is None and (proxy / "PROXY.txt").is_file():
        data_dir = proxy
    if data_dir is None:
        x = net.vectors(net.inputs[0])
        idx = _subset(len(x), samples)
        return x[idx], None, None, (f"no labelled data: the export's {len(idx)} stored test vectors, agreement only "
                                    f"(pass --data-dir, or synthesize {proxy} with `python -m quant proxy {name}`)")
    if name not in NETS:
        raise ValueError(f"--data-dir needs the net to be one of {', '.join(NETS)} (to pick the loader), not '{name}'")
    from quant import data
    log(f"loading {data_dir} ...")
    ds = data.load(name, data_dir)
    groups = ds.test_groups
    idx = _subset(len(ds.x_test), samples, groups)
    x = golden_net.quantize_input(net, ds.x_test[idx])
    labels, groups = ds.y_test[idx], (None if groups is None else groups[idx])
    outputs = net.tensors[net.outputs[0]]["shape"][-1]
    if task_of(net) == "classifier" and outputs != len(ds.classes):
        raise ValueError(f"{net.name} has {outputs} outputs but the data set {ds.name} has {len(ds.classes)} classes; "
                         f"pass the data set of this net")
    what = f"{len(np.unique(groups))} recordings, {len(idx)} vectors" if groups is not None else f"{len(idx)} samples"
    return x, labels, groups, f"{ds.name}, test split, {what}"


# -- the study ---------------------------------------------------------------------------------------------------------

def _metric_text(row, labelled):
    if "agree" in row:
        text = f"top-1 agreement {row['agree']}/{row['n']}"
        if labelled:
            text += f", accuracy {100 * row['correct'] / row['n']:.2f} %"
    else:
        text = f"outputs {'identical' if row['output_exact'] else 'differ'}, score change {row['score_change']:.2e}"
        if labelled:
            text += f", AUC {row['auc']:.4f}"
    return text + f", worst layer match {min(row['layer_match'].values()):.4f}"


def study(net, x, labels=None, groups=None, m_bits=M_BITS, acc_below=ACC_BELOW, max_shift=62, log=print,
          scales="export"):
    """Run the whole study on a loaded net and integer inputs ``x``; return the result as a JSON-ready dict.

    ``labels`` (and for the autoencoder the recording ``groups``) turn on the accuracy measurement. ``log`` gets one
    line per sweep point. ``scales="float"`` studies :func:`per_channel` ``(net)`` instead, with the M sweep rounding
    its real scales and its exact-scale version as the reference; the export as is is then evaluated once for context
    (``result["export"]``, compared with that reference).
    """
    if scales not in ("export", "float"):
        raise ValueError(f"scales must be 'export' or 'float', not {scales!r}")
    labelled = labels is not None
    real, export_row = None, None
    if scales == "float":
        shipped = net
        net, real = per_channel(net, max_shift)
        shipped_out = golden_net.run(shipped, x)
    reference = golden_net.run(net, x)
    ref_row = evaluate(net, x, reference, reference, labels, groups)
    if real is not None:
        export_row = evaluate(net, x, reference, shipped_out, labels, groups)      # same tensor names, same grids
        log(f"per-channel weights, real requant scales: {len(real)} layers rescaled; the export as is, against the "
            f"rescaled exact-scale reference: {_metric_text(export_row, labelled)}")
    bounds = accumulator_bounds(net)
    ranges = accumulator_ranges(net, reference)
    layers = {name: {**bounds[name], "acc_min": ranges[name][0], "acc_max": ranges[name][1],
                     "empirical": signed_bits(min(ranges[name][0], 0), max(ranges[name][1], 0))} for name in bounds}
    full_acc = max((b["bound_bits"] for b in bounds.values()), default=32)
    onset = max((lay["empirical"] for lay in layers.values()), default=1)

    def point(what, **kwargs):
        changed = variant(net, max_shift=max_shift, scales=real, **kwargs)
        row = evaluate(net, x, reference, golden_net.run(changed, x), labels, groups)
        row["agrees"] = bool(within(row, ref_row, False))
        row["within"] = bool(within(row, ref_row, True)) if labelled else row["agrees"]
        row["shift_range"] = list(_shift_range(changed))
        log(f"  {what:>6}: {_metric_text(row, labelled)}{'' if row['within'] else '  (outside tolerance)'}")
        return row

    ref_m = reference_m_bits(net)
    pow2, channels = power_of_two_scales(net)
    scales_note = ("per-channel weights rescaled to the full weight range, real requant scales; reference = "
                   f"those scales as >= {_min_m(net, real)}-bit multipliers (relative error <= "
                   f"2**-{_min_m(net, real)}); "
                   if real is not None else "") + \
                  (f"all {channels} per-channel requant scales are exact powers of two, which any M reproduces "
                   f"exactly: the M sweep cannot differ from the reference until an export carries real scales"
                   if pow2 == channels else f"{channels - pow2} of {channels} per-channel requant scales are not "
                                            f"powers of two")
    log(f"requant scales: {scales_note}")
    log(f"full widths (M={ref_m}, A={full_acc}) against the export as is:")
    full = point("full", m_bits=None if real is not None else ref_m, acc_bits=full_acc)
    log("requant multiplier width M (accumulators as exported, never wrapping):")
    m_rows = []
    for m in m_bits:
        row = point(f"M={m}", m_bits=m)
        row["m_bits"] = m
        m_rows.append(row)
    log(f"accumulator width A, all conv/dense layers (export's multipliers); wrap-around starts below {onset} bits:")
    acc_rows = []
    for a in range(full_acc, max(onset - acc_below, 2) - 1, -1):
        row = point(f"A={a}", acc_bits=a)
        row["acc_bits"] = a
        acc_rows.append(row)

    def recommend(flag):
        return (smallest_within([r["m_bits"] for r in m_rows], [r[flag] for r in m_rows]),
                smallest_within([r["acc_bits"] for r in acc_rows], [r[flag] for r in acc_rows]))

    chance = at_chance(net, ref_row) if labelled else False
    by_agreement = recommend("agrees")
    by_accuracy = recommend("within") if labelled else None
    if not labelled:
        criterion = "exact agreement with the reference (every output integer identical)"
    elif chance:
        criterion = ("exact agreement with the reference (every output integer identical), because the reference "
                     "accuracy is at chance level, where an accuracy drop cannot be measured")
    else:
        criterion = (f"accuracy within {TOLERANCE_PP} pp of the reference" if "agree" in ref_row
                     else f"AUC within {AUC_TOLERANCE} of the reference")
    rec_m, rec_a = by_accuracy if labelled and not chance else by_agreement
    joint = None
    if rec_m is not None and rec_a is not None:
        log(f"recommended pair together (M={rec_m}, A={rec_a}):")
        joint = point("both", m_bits=rec_m, acc_bits=rec_a)
    joint_ok = None if joint is None else joint["within"] if labelled and not chance else joint["agrees"]
    return {"net": net.name, "task": task_of(net), "labelled": labelled, "samples": int(len(x)),
            "scales_mode": scales, "export": export_row,
            "criterion": criterion, "reference_at_chance": chance,
            "reference": ref_row, "reference_m_bits": ref_m, "scales": scales_note, "full_widths": full,
            "full_widths_exact": all(v == 1.0 for v in full["layer_match"].values()),
            "layers": layers, "m_sweep": m_rows, "acc_sweep": acc_rows, "acc_wrap_onset": onset,
            "recommendation": {"m_bits": rec_m, "acc_bits": rec_a, "joint": joint, "joint_ok": joint_ok,
                               "by_agreement": list(by_agreement),
                               "by_accuracy": None if by_accuracy is None else list(by_accuracy)}}


def at_chance(net, reference):
    """Whether a labelled reference is too weak to measure a drop: accuracy within 5 pp of guessing, or AUC <= 0.55."""
    if "agree" in reference:
        classes = net.tensors[net.outputs[0]]["shape"][-1]
        return reference["correct"] * classes * 100 <= reference["n"] * (100 + 5 * classes)
    return reference["auc"] <= 0.55


def _agreement(row):
    """Top-1 agreement (classifier) or fraction of output integers equal to the reference (autoencoder), in %."""
    return 100 * row["agree"] / row["n"] if "agree" in row else 100 * row["layer_match"][row["output"]]


def _headline(row, labelled):
    if "agree" in row:
        return 100 * row["correct"] / row["n"] if labelled else 100 * row["agree"] / row["n"]
    return row["auc"] if labelled else 100 * row["layer_match"][row["output"]]


def table(result):
    """The study as text: per-layer accumulator widths, both sweeps and the recommendation."""
    labelled = result["labelled"]
    lines = ["per-layer accumulator width (bits): never-overflow bounds vs what the data needs",
             f"  {'layer':<12}{'K':>6}{'from bits':>11}{'from weights':>14}{'exported':>10}{'empirical':>11}"
             f"{'acc range on data':>28}"]
    for name, lay in result["layers"].items():
        span = f"[{lay['acc_min']}, {lay['acc_max']}]"
        lines.append(f"  {name:<12}{lay['reduction']:>6}{lay['bound_bits']:>11}{lay['bound_weights']:>14}"
                     f"{lay['exported']!s:>10}{lay['empirical']:>11}{span:>28}")
    classifier = result["task"] == "classifier"
    agreement = "top-1 agree %" if classifier else "output match %"
    head = f"{'width':<7}" + (f"{'accuracy %' if classifier else 'AUC':>11}" if labelled else "") + \
        f"{agreement:>15}" + ("" if classifier else f"{'score chg':>11}") + f"{'worst layer':>13}{'bit-exact':>11}" + \
        (f"{'<=0.1pp' if classifier else '<=0.001':>9}" if labelled else "")

    def sweep_line(row, width, extra=""):
        agree = _agreement(row)
        text = f"  {width:<7}" + (f"{_headline(row, True):>11.4g}" if labelled else "") + \
            f"{agree:>15.4g}" + ("" if classifier else f"{row['score_change']:>11.2e}") + \
            f"{min(row['layer_match'].values()):>13.4f}{'yes' if row['agrees'] else 'no':>11}"
        return text + (f"{'yes' if row['within'] else 'no':>9}" if labelled else "") + extra

    if labelled:
        lines.append(f"accuracy measured on: {result.get('dataset', 'the labels given')}")
    if result.get("export") is not None:
        lines.append(f"--scales float: per-channel weights and real requant scales; the reference is that net with "
                     f"exact scales ({_metric_text(result['reference'], labelled)}); the export as is (power-of-two "
                     f"scales), against that reference: {_metric_text(result['export'], labelled)}")
    lines.append("requant multiplier width M (accumulators never wrap); worst layer = lowest exact-match fraction"
                 + ("" if classifier else "; score chg = mean relative change of the anomaly score (MSE)"))
    lines.append(f"  {head}  shifts needed")
    for row in result["m_sweep"]:
        lines.append(sweep_line(row, f"M={row['m_bits']}", f"  {row['shift_range'][0]}..{row['shift_range'][1]}"))
    lines.append(f"accumulator width A, every conv/dense layer (export's multipliers); "
                 f"wrap-around starts below A={result['acc_wrap_onset']}")
    lines.append(f"  {head}")
    for row in result["acc_sweep"]:
        lines.append(sweep_line(row, f"A={row['acc_bits']}"))
    rec = result["recommendation"]
    joint = "" if rec["joint"] is None else \
        f"; together: {'within' if rec['joint_ok'] else 'OUTSIDE'} the criterion"
    lines.append(f"requant scales: {result['scales']}")
    safe = [max((lay[key] for lay in result["layers"].values()), default=None)
            for key in ("bound_weights", "bound_bits")]
    lines.append(f"accumulator that can never overflow, any input: A = {safe[0]} (from the weights), {safe[1]} "
                 f"(from the bit-widths alone); on this data wrap-around starts below A = {result['acc_wrap_onset']}")
    if rec["by_accuracy"] is not None:
        lines.append(f"smallest widths by accuracy: M = {rec['by_accuracy'][0]}, A = {rec['by_accuracy'][1]}; "
                     f"by exact agreement: M = {rec['by_agreement'][0]}, A = {rec['by_agreement'][1]}")
    lines.append(f"recommendation ({result['criterion']}): M = {rec['m_bits']}, A = {rec['acc_bits']}{joint}")
    return "\n".join(lines)


def plot(result, path):
    """PNG of the metrics (percent) vs M and vs A, with the reference and the recommendation marked."""
    import textwrap

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labelled, classifier = result["labelled"], result["task"] == "classifier"
    curves = [(_agreement, "top-1 agreement with reference" if classifier else "output integers equal to reference"),
              (lambda r: 100 * min(r["layer_match"].values()), "worst layer exact-match")]
    if labelled:
        curves.insert(0, (lambda r: _headline(r, True) * (1 if classifier else 100),
                          "accuracy (data set in the title)" if classifier else "AUC x 100"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    for ax, key, rows, label in ((axes[0], "m_bits", result["m_sweep"], "requant multiplier width M (bits)"),
                                 (axes[1], "acc_bits", result["acc_sweep"], "accumulator width A (bits)")):
        widths = [r[key] for r in rows]
        for (metric, name), style in zip(curves, ("o-", "s--", "^:")):
            ax.plot(widths, [metric(r) for r in rows], style, label=name)
        if labelled:
            ax.axhline(curves[0][0](result["reference"]), color="grey", lw=0.8, label="reference accuracy")
        if result["recommendation"][key] is not None:
            ax.axvline(result["recommendation"][key], color="green", ls=":", label="recommended")
        ax.set_xlabel(label)
        ax.set_ylabel("%")
        ax.legend(fontsize=7)
    title = f"{result['net']} bit-width study. Data: {result['dataset']}. Model: {result['model']}"
    fig.suptitle(textwrap.fill(title, 150), fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line ------------------------------------------------------------------------------------------------------

def _width_range(text):
    try:
        lo, _, hi = text.partition("-")
        widths = tuple(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        widths = ()
    if not widths or widths[0] < 1 or widths[-1] > 32:
        raise argparse.ArgumentTypeError(f"--m-bits {text!r}: give a width or a range within 1..32, e.g. 4-16")
    return widths


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m quant.study", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Sweep the requant multiplier width M and the accumulator width of an exported integer net, run "
                    "it with hw.golden and recommend the smallest widths that keep its accuracy (or, without "
                    "labelled data, its exact decisions). Writes <out>/<NET>.json and <out>/<NET>.png.")
    parser.add_argument("net", metavar="NET", nargs="?",
                        help=f"one of {', '.join(NETS)}, or all (or any export name with --model)")
    parser.add_argument("--model", help="export prefix (default models/NET, i.e. models/NET.json + .npz)")
    parser.add_argument("--data-dir", help="labelled real data set (layouts: quant/data.py); default: the proxy set "
                                           "build/data/NET-proxy if it exists, else the export's test vectors")
    parser.add_argument("--no-data", action="store_true", help="use the export's test vectors (agreement only)")
    parser.add_argument("--samples", type=int, default=200, help="most test samples (recordings for fcae) to run")
    parser.add_argument("--m-bits", type=_width_range, default=M_BITS, metavar="LO-HI",
                        help="multiplier widths to sweep (default 4-16)")
    parser.add_argument("--acc-below", type=int, default=ACC_BELOW,
                        help="bits below the onset of wrap-around to continue the accumulator sweep")
    parser.add_argument("--scales", choices=("export", "float"), default="export",
                        help="export: the export's requant scales (power-of-two today, so M has no effect); float: "
                             "rescale every output channel's weights to the full weight range (per-channel "
                             "quantization), which makes the requant scales real, and sweep M against the same net "
                             "with exact scales (writes <out>/<NET>-float.json/.png)")
    parser.add_argument("--max-shift", type=int, default=62, help="largest requant right shift the hardware has")
    parser.add_argument("--label", help="what the model is (default: the export's training record, or 'untrained "
                                        "stand-in' for an export without one)")
    parser.add_argument("--out", default="build/study", help="output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 2


def _study_one(args, name, log):
    """Study one net; 0 on success, 2 (after printing why) on a user error."""
    prefix = args.model or f"models/{name}"
    try:
        net = golden_net.load(prefix)
    except (FileNotFoundError, golden_net.NetFormatError) as err:
        return _fail(err)
    label = args.label or net.meta.get("training") or (
        "untrained stand-in (seeded random weights; the export carries no training record — "
        "results show the arithmetic, not a trained net's accuracy)")
    try:
        x, labels, groups, dataset = _load_data(name, net, None if args.no_data else args.data_dir, args.samples, log)
    except (FileNotFoundError, ValueError) as err:
        return _fail(err)
    log(f"[study {name}] model {prefix}.json/.npz: {label}")
    log(f"[study {name}] data: {dataset}")
    start = time.time()
    try:
        result = study(net, x, labels, groups, args.m_bits, args.acc_below, args.max_shift, log, args.scales)
    except ValueError as err:
        return _fail(err)
    model = f"{prefix}.json/.npz" + (", per-channel rescaled (--scales float)" if args.scales == "float" else "")
    result.update(model=f"{model}: {label}", dataset=dataset, seconds=round(time.time() - start, 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = name if args.scales == "export" else f"{name}-float"
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, out / f"{name}.png")
    print(f"== bit-width study: {name} ==\nmodel: {result['model']}\ndata: {dataset}")
    print(table(result))
    print(f"full widths reproduce the reference exactly: {result['full_widths_exact']}")
    print(f"wrote {out / name}.json and {out / name}.png ({result['seconds']} s)", flush=True)
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    valid = f"valid NETs are: {', '.join(NETS)}, or all"
    if args.net is None:
        return _fail(f"NET is missing; {valid} (e.g. python -m quant.study dscnn, make study NET=dscnn)")
    if args.model is None and args.net not in NETS + ("all",):
        return _fail(f"unknown NET '{args.net}'; {valid} (or pass --model PREFIX for another export)")
    if args.net == "all" and (args.model or args.data_dir):
        return _fail("NET=all studies the shipped models/<NET> exports with their default data; "
                     "--model and --data-dir need a single NET")
    if args.samples < 1:
        return _fail(f"--samples must be at least 1, not {args.samples}")
    status = 0
    for name in (NETS if args.net == "all" else (args.net,)):
        status = max(status, _study_one(args, name, log))
    return status


if __name__ == "__main__":
    raise SystemExit(main())

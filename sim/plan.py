"""Plan a whole-net replay: which node of an exported net runs on which engine, with which job, expecting what.

No simulator is needed here: the plan holds, per node, the engine (or the host and why), the operand and output
precisions, the useful MACs, the ``hw.accel.driver`` job (register values + memory image) built from the node's golden
input, and the golden output the RTL must reproduce. ``sim.rtl`` runs the RTL steps; ``sim.report`` prints them.

Precisions (``PREC``)
---------------------
``mixed``
    The net as exported (``models/<net>``), whatever per-layer widths it was trained with.
``16`` / ``8`` / ``4`` (uniform)
    A uniform export ``models/uniform<B>/<net>`` if it exists (``python -m quant train <net> --precision <B>
    --out models/uniform<B>``). Otherwise, if every layer of the export is at most ``B`` bits wide, the export is
    **widened**: the same integers and grids stored and computed at ``B`` bits (outputs saturate at ``B`` bits, the
    accumulators wrap at the engine's ``acc_bits``) and golden re-run on it; exact, but not a re-trained net, so the
    stored test vectors do not apply. Narrowing needs a re-trained export and is refused with the command that makes
    one.
"""

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.golden import net as golden_net
from hw.perf import conv2d_engine

__all__ = ["NETS", "PRECS", "SIM_BUFFERS", "sim_params", "Engine", "ENGINES", "Step", "engine_missing", "resolve",
           "widen", "plan", "assemble", "macs"]

NETS = ("dscnn", "resnet8", "mobilenetv1", "fcae")
PRECS = ("mixed", "16", "8", "4")
ROOT = Path(__file__).resolve().parents[1]


#: Buffer depths (bus words) of the engines the replay builds, over ``hw.params.EngineParams``'s defaults: large
#: enough for every layer of the four nets at 16 bit (MobileNetV1's 96x96x3 input and 48x48x16 output, its 256x256
#: pointwise weights), so no layer has to leave the RTL for lack of buffer. The 40-bit accumulator (the MacUnit's
#: default, 2*16 + 8) holds the worst case of every 16x16-bit layer of the four nets (34-36 bits for DS-CNN).
SIM_BUFFERS = {"weight_words": 32768, "act_words": 32768, "out_words": 32768, "acc_bits": 40}


def sim_params(**overrides):
    """The replay's ``EngineParams``: :data:`SIM_BUFFERS` (buffers and accumulator) over the defaults, then
    ``overrides``."""
    from hw.params import EngineParams
    return EngineParams(**{**SIM_BUFFERS, **overrides})


@dataclass(frozen=True)
class Engine:
    """An engine kind: class name, ``hw.tops`` registry name, ``hw.accel.driver`` job function."""
    name: str
    top: str
    job: str


ENGINES = {
    "conv2d": Engine("Conv2dEngine", "conv2d_engine", "conv2d_job"),
    "depthwise_conv2d": Engine("DepthwiseConv2dEngine", "depthwise_conv2d_engine", "depthwise_conv2d_job"),
    "dense": Engine("FullyConnectedEngine", "fc_engine", "dense_job"),
}


def engine_missing(engine):
    """``None`` if ``engine`` can be built and driven, else what is missing (registry top, constructor or job)."""
    from hw import tops
    from hw.accel import driver

    if engine.top not in tops.TOPS:
        return f"no hw.tops top {engine.top!r}"
    try:
        tops.get(engine.top).constructor()
    except ImportError as err:
        return str(err)
    if not hasattr(driver, engine.job):
        return f"no hw.accel.driver.{engine.job}"
    return None


@dataclass
class Step:
    """One node of the net and where it runs.

    ``where`` is ``"rtl"`` or ``"host"``; ``reason`` says why a weighted node runs on the host (``engine missing:
    ...`` or ``does not fit: ...``). ``bits`` is the operand precision the engine runs at (activations and weights),
    ``o_bits`` the output's.
    """
    name: str
    op: str
    shape: tuple
    where: str = "host"
    reason: str = ""
    engine: Engine = None
    bits: int = None
    o_bits: int = None
    macs: int = 0
    job: object = field(default=None, repr=False)
    expected: np.ndarray = field(default=None, repr=False)

    @property
    def label(self):
        """``rtl <Engine>``, ``host``, ``host (engine missing)`` or ``host (does not fit)``."""
        if self.where == "rtl":
            return f"rtl {self.engine.name}"
        return f"host ({self.reason.split(':')[0]})" if self.reason else "host"


def macs(net, node):
    """Useful multiply-accumulates of a conv2d / depthwise_conv2d / dense node (batch 1)."""
    out = net.tensors[node["name"]]["shape"]
    w = net.arrays[node["weights"]].shape
    if node["op"] == "dense":
        return int(w[0] * w[1])
    pixels = int(np.prod(out[:-1]))
    if node["op"] == "depthwise_conv2d":
        return pixels * out[-1] * w[0] * w[1]
    return pixels * out[-1] * w[0] * w[1] * w[2]


def widen(net, bits, acc_bits):
    """The net stored and computed at ``bits``: every narrower tensor and weight array widened (same integers, same
    grids), weighted nodes accumulating in ``acc_bits`` (the engine's accumulator). Test vectors other than the
    input are dropped (saturation moves, so the stored results no longer apply)."""
    meta = copy.deepcopy(net.meta)
    for desc in list(meta["tensors"].values()) + list(meta["arrays"].values()):
        if desc["bits"] < bits:
            desc["bits"] = bits
    for node in meta["nodes"]:
        if "acc_bits" in node:
            node["acc_bits"] = acc_bits
    meta["vectors"]["tensors"] = list(meta["inputs"])
    meta["net"] = net.name
    return golden_net.Net(meta, net.arrays)


def _layer_bits(net):
    """The set of activation/weight/output widths of the weighted nodes."""
    widths = set()
    for node in net.nodes:
        if node["op"] in ENGINES:
            widths |= {net.tensors[node["inputs"][0]]["bits"], net.meta["arrays"][node["weights"]]["bits"],
                       net.tensors[node["name"]]["bits"]}
    return widths


def resolve(name, prec="mixed", models=ROOT / "models", acc_bits=32):
    """Load net ``name`` at precision ``prec``: ``(net, how, vectors_apply)``.

    ``how`` describes where the net came from; ``vectors_apply`` is whether the export's stored test vectors are the
    expected results. Raises ``ValueError`` for an unknown net/precision or a narrowing without an export, and
    ``FileNotFoundError`` if the export is missing.
    """
    if name not in NETS:
        raise ValueError(f"unknown NET {name!r}; valid NETs are: {', '.join(NETS)} (or all)")
    if prec not in PRECS:
        raise ValueError(f"unknown PREC {prec!r}; valid PRECs are: {', '.join(PRECS)}")
    models = Path(models)
    if prec == "mixed":
        return golden_net.load(models / name), f"as exported ({models / name})", True
    bits = int(prec)
    uniform = models / f"uniform{bits}" / name
    if uniform.with_suffix(".json").is_file():
        return golden_net.load(uniform), f"uniform {bits}-bit export ({uniform})", True
    net = golden_net.load(models / name)
    widths = _layer_bits(net)
    if widths == {bits}:
        return net, f"the export is uniform {bits}-bit ({models / name})", True
    if max(widths) > bits:
        raise ValueError(f"PREC={bits}: {name} has {max(widths)}-bit layers and {uniform}.json does not exist; "
                         f"narrowing needs a re-trained export: python -m quant train {name} --precision {bits} "
                         f"--out {models / f'uniform{bits}'}")
    return widen(net, bits, acc_bits), f"widened to {bits} bit from {models / name} (same integers, not re-trained)", \
        False


def _engine_bits(params, needed):
    """Narrowest engine precision holding ``needed``-bit values, or ``None``."""
    fits = [b for b in params.precisions if b >= needed]
    return min(fits) if fits else None


def _job(net, node, step, params, x, engine):
    from hw.accel import driver

    arrays = net.arrays
    x_desc, w_desc, o_desc = (net.tensors[node["inputs"][0]], net.meta["arrays"][node["weights"]],
                              net.tensors[node["name"]])
    kwargs = dict(a_bits=step.bits, a_signed=x_desc["signed"], w_bits=step.bits, w_signed=w_desc["signed"],
                  o_bits=step.o_bits, o_signed=o_desc["signed"], relu=bool(node["relu"]))
    if node["op"] != "dense":
        kwargs.update(strides=tuple(node["strides"]), padding=node["padding"])
    return getattr(driver, engine.job)(params, x, arrays[node["weights"]], arrays[node["bias"]],
                                       arrays[node["multiplier"]], arrays[node["shift"]], **kwargs)


def _place(net, node, params, x, expected, mem_words):
    """A Step for a weighted node: on its engine if it exists and the layer fits, else on the host with the reason.

    A conv2d node runs on the engine ``hw.perf.conv2d_engine`` names: the depthwise engine when it has one input
    channel (taps fill the ST lanes there; input channels cannot).
    """
    engine = ENGINES[node["op"]]
    if node["op"] == "conv2d" and conv2d_engine(net.tensors[node["inputs"][0]]["shape"]) == "depthwise":
        engine = ENGINES["depthwise_conv2d"]
    out = net.tensors[node["name"]]
    step = Step(node["name"], node["op"], tuple(out["shape"]), engine=engine, macs=macs(net, node),
                expected=expected)
    step.bits = _engine_bits(params, max(net.tensors[node["inputs"][0]]["bits"],
                                         net.meta["arrays"][node["weights"]]["bits"]))
    step.o_bits = out["bits"]
    missing = engine_missing(engine)
    if missing:
        step.reason = f"engine missing: {engine.name} ({missing})"
    elif step.bits is None:
        step.reason = f"does not fit: operands wider than the engine's {max(params.precisions)} bits"
    elif out["bits"] not in params.precisions:
        step.reason = f"does not fit: {out['bits']}-bit output, the engine writes {params.precisions} bits"
    elif node["acc_bits"] > params.acc_bits:
        step.reason = f"does not fit: needs a {node['acc_bits']}-bit accumulator, the engine has {params.acc_bits}"
    else:
        try:
            step.job = _job(net, node, step, params, x, engine)
        except ValueError as err:
            step.reason = f"does not fit: {err}"
        else:
            top = max(step.job.memory, default=0)
            if top >= mem_words:
                step.reason = f"does not fit: the image reaches bus word {top}, the memory model has {mem_words}"
                step.job = None
    step.where = "host" if step.reason else "rtl"
    return step


def plan(net, params, sample=0, mem_words=1 << 16):
    """Steps for every node of ``net`` except the input, built from golden's tensors of test vector ``sample``.

    Returns ``(steps, values)``: ``values`` are golden's tensors of that sample (no batch axis).
    """
    x = net.vectors(net.inputs[0])[sample:sample + 1]
    values = {k: v[0] for k, v in golden_net.run(net, x).items()}
    steps = []
    for node in net.nodes:
        if node["op"] == "input":
            continue
        if node["op"] in ENGINES:
            steps.append(_place(net, node, params, values[node["inputs"][0]], values[node["name"]], mem_words))
        else:
            steps.append(Step(node["name"], node["op"], tuple(net.tensors[node["name"]]["shape"]),
                              expected=values[node["name"]]))
    return steps, values


def assemble(net, steps, rtl_outputs, values):
    """The net's output with every RTL step's output taken from ``rtl_outputs`` and host nodes recomputed from them.

    ``rtl_outputs`` maps step names to the RTL's tensors; the result is the single output tensor (no batch axis).
    """
    chain = {net.inputs[0]: values[net.inputs[0]][None]}
    for node in net.nodes:
        if node["op"] == "input":
            continue
        if node["name"] in rtl_outputs:
            chain[node["name"]] = np.asarray(rtl_outputs[node["name"]])[None]
        else:
            chain[node["name"]] = golden_net.apply(net, node, [chain[t] for t in node["inputs"]])
    return chain[net.outputs[0]][0]

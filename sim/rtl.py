"""Run planned RTL steps on Verilator: one build per engine configuration, all its layers in one simulation.

The design is ``sim.top`` (engine + memory model, the engine runs free), the testbench ``cocotb_tests.sim_net``; builds
go through ``cocotb_tests.runner`` into ``build/cocotb/<engine>_net-<hash of parameters>/`` (``...-waves`` when
tracing). Nothing is elaborated or compiled again while the parameters, ``hw/`` and ``sim/top.py`` are unchanged: a
warm run costs one simulator launch per engine, feeding it all the layers of every precision.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cocotb_tests import runner
from hw import layout
from hw.accel import regs
from hw.accel.driver import read_output

from .top import MEM_WORDS, engine_with_memory

__all__ = ["Measured", "Mismatch", "SimError", "run_steps", "first_difference"]


class SimError(RuntimeError):
    """The simulation could not be built or run (build failure, engine timeout, simulator crash)."""


@dataclass
class Measured:
    """What the RTL did for one step: summed counters over its runs (output tiles), the status words, its output."""
    cycles: int
    compute_cycles: int
    status: list
    output: np.ndarray


@dataclass
class Mismatch:
    """The first element where the RTL's output differs from golden's (or an error status)."""
    layer: str
    index: tuple
    expected: int
    observed: int
    status: str = ""
    waves: str = ""

    def __str__(self):
        where = f"{self.layer}: " + (self.status if self.status else
                                     f"output{list(self.index)} expected {self.expected}, observed {self.observed}")
        return where + (f"; waveform: {self.waves}" if self.waves else "")


def first_difference(expected, observed):
    """``(index, expected, observed)`` of the first differing element (row-major), or ``None`` if equal."""
    expected, observed = np.asarray(expected), np.asarray(observed)
    if expected.shape != observed.shape:
        return (), f"shape {expected.shape}", f"shape {observed.shape}"
    diff = np.argwhere(expected != observed)
    if not len(diff):
        return None
    index = tuple(int(i) for i in diff[0])
    return index, int(expected[index]), int(observed[index])


def _status_problem(word):
    """``""`` if STATUS shows done without error, else a description."""
    get = {name: (word >> regs.field(name)[1].offset) & ((1 << regs.field(name)[1].width) - 1)
           for name in ("done", "error", "err_code")}
    if get["done"] and not get["error"]:
        return ""
    code = regs.ErrorCode(get["err_code"]).name if get["err_code"] in set(regs.ErrorCode) else get["err_code"]
    return f"STATUS={word:#x}: done={get['done']} error={get['error']} err_code={code}"


def _layer_record(key, step, params):
    job = step.job
    expect = layout.to_bus_words(layout.activation_words(step.expected, job.out_bits, job.out_signed,
                                                         params.bus_width), params.bus_width)
    return {"name": key, "runs": job.runs, "memory": {str(a): hex(v) for a, v in job.memory.items()},
            "out": [job.out_addr // params.bus_bytes, len(expect)], "expect": [hex(w) for w in expect]}


def _simulate(engine, keyed, params, workdir, *, mul_pipeline, mem_words, waves, corrupt=None):
    """One simulation of ``keyed`` (``[(key, step)]``, all on ``engine``); returns (result records, run dir)."""
    import pytest

    workdir.mkdir(parents=True, exist_ok=True)
    layers = [_layer_record(key, step, params) for key, step in keyed]
    if corrupt is not None:                       # test hook: make golden's expectation wrong in one word
        layers[corrupt]["expect"][0] = hex(int(layers[corrupt]["expect"][0], 16) ^ 1)
    tag = engine.top.removesuffix("_engine")
    (workdir / f"{tag}-layers.json").write_text(json.dumps(layers))
    result = workdir / f"{tag}-result.json"
    result.unlink(missing_ok=True)
    top_params = {"engine_top": engine.top, "mem_words": mem_words, "mul_pipeline": mul_pipeline, **params.as_dict()}
    try:
        xml = runner.run(engine_with_memory, "cocotb_tests.sim_net", params=top_params, name=f"{tag}_net",
                         tb={"layers": str(workdir / f"{tag}-layers.json"), "result": str(result)}, waves=waves)
    except (pytest.fail.Exception, pytest.skip.Exception) as err:
        raise SimError(f"{engine.name} simulation failed: {err}") from None
    if not result.exists():
        raise SimError(f"{engine.name} simulation wrote no results ({result})")
    return json.loads(result.read_text()), Path(xml).parent


def run_steps(keyed_steps, params, workdir, *, mul_pipeline=1, mem_words=MEM_WORDS, waves=False, corrupt=None,
              trace_mismatch=True):
    """Simulate every RTL step of ``keyed_steps`` (``[(key, Step)]``, keys unique) on its engine.

    Returns ``(measured, mismatch)``: ``{key: Measured}`` for the steps that ran, and the first :class:`Mismatch`
    (in the order given) or ``None``. After a mismatch the failing layer is simulated again alone with waveform
    tracing (unless ``waves`` already traced everything, or ``trace_mismatch`` is false) and the FST path is put into
    the mismatch.
    ``corrupt`` (tests only) flips a bit of one layer's expected output: that layer must be reported.
    """
    workdir = Path(workdir).resolve()
    order = [key for key, step in keyed_steps if step.where == "rtl"]
    by_engine = {}
    for key, step in keyed_steps:
        if step.where == "rtl":
            by_engine.setdefault(step.engine, []).append((key, step))
    measured, mismatch, records = {}, None, {}
    for engine, keyed in by_engine.items():
        hit = None if corrupt is None else next((i for i, (k, _) in enumerate(keyed) if k == corrupt), None)
        results, run_dir = _simulate(engine, keyed, params, workdir, mul_pipeline=mul_pipeline,
                                     mem_words=mem_words, waves=waves, corrupt=hit)
        for (key, step), res in zip(keyed, results):
            first = step.job.out_addr // params.bus_bytes
            memory = {first + i: int(w, 16) for i, w in enumerate(res["out"])}
            status = [r["STATUS"] for r in res["runs"]]
            measured[key] = Measured(sum(r["CYCLES"] for r in res["runs"]),
                                     sum(r["COMPUTE_CYCLES"] for r in res["runs"]), status,
                                     read_output(step.job, memory))
            records[key] = (engine, step, run_dir, hit is not None and keyed[hit][0] == key)
    for key in order:
        if key not in measured:
            continue                               # its engine's simulation stopped at an earlier layer
        engine, step, run_dir, corrupted = records[key]
        got = measured[key]
        problem = next(filter(None, map(_status_problem, got.status)), "")
        expected = step.expected.copy()
        if corrupted:
            expected.flat[0] ^= 1
        diff = first_difference(expected, got.output)
        if problem or diff:
            mismatch = Mismatch(key, *(diff or ((), None, None)), status=problem)
            if trace_mismatch or waves:
                mismatch.waves = _waves(engine, key, step, params, workdir, mul_pipeline, mem_words, waves, run_dir,
                                        corrupted)
            break
    return measured, mismatch


def _waves(engine, key, step, params, workdir, mul_pipeline, mem_words, traced, run_dir, corrupted):
    """Path of an FST waveform of ``step``: the traced run's, or a re-run of that layer alone with tracing."""
    if not traced:
        try:
            _, run_dir = _simulate(engine, [(key, step)], params, Path(workdir) / "waves", mul_pipeline=mul_pipeline,
                                   mem_words=mem_words, waves=True, corrupt=0 if corrupted else None)
        except SimError as err:
            return f"(no waveform: {err})"
    found = run_dir / runner.WAVES_FILE
    return str(found) if found.is_file() else f"(no waveform: {found} was not written)"

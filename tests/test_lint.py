"""``verilator --lint-only -Wall`` on the Verilog of every generator top: no warnings.

Waivers (:data:`WAIVERS`, a Verilator control file) cover what Amaranth's Verilog backend emits by construction:

* ``DECLFILENAME`` -- Amaranth writes a top and all its submodules into one file, so only the top can match the name.
* ``PROCASSINIT`` -- Amaranth declares every register with its reset value (``reg [7:0] r = 8'h00;``) and assigns
  it in an ``always`` block.
* ``CASEINCOMPLETE`` -- ``m.Switch``/``m.FSM`` become a ``casez`` without ``default``, after an assignment of every
  driven signal's default value, so no state is held (a latch would still be reported as ``LATCH``).
* ``WIDTHEXPAND``, ``WIDTHTRUNC`` -- Amaranth has its own shape rules (checked when the design is built) and its backend
  encodes them with Verilog's implicit extension and truncation (``mode == 1'h1``, ``acc + $signed(p)``).
* ``UNUSEDSIGNAL`` -- Amaranth keeps every named ``Signal`` as a wire for debugging while its consumers read the
  driving net directly (``mac.v``: ``assign product = {..., p};`` but the adder reads ``p``), and leaves internal
  ``$N`` wires whose top bits an assignment truncates (``{ $3[33], p } = a * w``). Truly dead logic costs nothing
  after synthesis and shows in ``make area``.

Every other ``-Wall`` warning (undriven or multiply driven signals, latches, combinational loops, ...) fails the test;
:func:`test_lint_reports_a_real_warning` checks that the waivers let one through.
"""

import subprocess

import pytest

from cocotb_tests.runner import find_verilator
from hw import tops

pytestmark = pytest.mark.verilator

WAIVERS = """`verilator_config
lint_off -rule DECLFILENAME
lint_off -rule PROCASSINIT
lint_off -rule CASEINCOMPLETE
lint_off -rule WIDTHEXPAND
lint_off -rule WIDTHTRUNC
lint_off -rule UNUSEDSIGNAL
"""

NON_DEFAULT = [
    ("st_multiplier", {"lanes": (1, 2), "pipeline": 2}),
    ("st_multiplier", {"width": 8, "pipeline": 1, "reduction": "wallace"}),
    ("fixed_multiplier", {"arrangement": "star", "pipeline": 1}),
    ("mac", {"acc_width": 32, "pipeline": 1}),
    ("fixed_mac", {"arrangement": "star"}),
]
CASES = [(name, {}) for name in tops.TOPS] + [case for case in NON_DEFAULT if case[0] in tops.TOPS]


def lint(verilog_text, name, directory):
    """Warnings (lines starting with ``%``) of ``verilator --lint-only -Wall`` with :data:`WAIVERS`."""
    verilator = find_verilator()
    (directory / "waivers.vlt").write_text(WAIVERS)
    (directory / f"{name}.v").write_text(verilog_text)
    done = subprocess.run([verilator, "--lint-only", "-Wall", "--top-module", name, "waivers.vlt", f"{name}.v"],
                          cwd=directory, capture_output=True, text=True)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("%")]


@pytest.mark.parametrize("name, params", CASES,
                         ids=[f"{n}-" + "-".join(f"{k}={v}" for k, v in p.items()) for n, p in CASES])
def test_top_is_lint_clean(name, params, tmp_path):
    try:
        text = tops.verilog(name, **params)
    except ImportError as e:
        pytest.fail(f"{e}")
    assert lint(text, name, tmp_path) == []


def test_lint_reports_a_real_warning(tmp_path):
    """The waivers do not hide a design's own mistakes: an undriven output is reported."""
    text = "module bad(input wire [3:0] a, output wire [3:0] y, output wire z);\n  assign y = a;\nendmodule\n"
    warnings = lint(text, "bad", tmp_path)
    assert any("UNDRIVEN" in w and "'z'" in w for w in warnings), warnings

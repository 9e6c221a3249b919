"""``python -m hw``: listing tops, emitting Verilog, one-line errors with exit status 2, deterministic output."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw import tops
from hw.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``main(argv)`` in this process."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def python_m_hw(*argv, hashseed="0"):
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    return subprocess.run([sys.executable, "-m", "hw", *argv], cwd=ROOT, env=env, capture_output=True, text=True)


# ---- parameters ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("default, text, value", [
    (16, "8", 8), (16, "0x10", 16), ((1, 2, 4), "1,2", (1, 2)), ((1, 2, 4), "4", (4,)),
    (True, "false", False), (False, "YES", True), ("dadda", "wallace", "wallace"),
])
def test_param_parses_by_declared_type(default, text, value):
    assert tops.Param("x", default, "help", type(default)).parse(text) == value


def test_empty_tuple_param_is_written_none():
    param = tops.Param("split", (), "help", tuple)
    assert param.format() == "none" and param.parse("none") == param.parse("") == ()
    assert param.parse("2,4") == (2, 4)
    optional = tops.Param("split", None, "help", tuple)
    assert optional.parse("auto") is None and optional.parse("none") == () and optional.format(()) == "none"


def test_optional_param_parses_auto_and_its_type():
    param = tops.Param("acc_width", None, "help", int)
    assert param.parse("auto") is None and param.parse("32") == 32 and param.format() == "auto"


@pytest.mark.parametrize("default, text", [(16, "sixteen"), ((1, 2, 4), "1,,2"), (True, "maybe"), (16, "1.5")])
def test_param_refuses_bad_text_saying_what_was_expected(default, text):
    with pytest.raises(ValueError, match=rf"parameter x={text!r} is not"):
        tops.Param("x", default, "help", type(default)).parse(text)


@pytest.mark.parametrize("value", ["16", 16.0, True])
def test_build_refuses_python_value_of_wrong_type(value):
    with pytest.raises(TypeError, match=rf"parameter width must be int, not {value!r}"):
        tops.build("st_multiplier", width=value)


def test_register_refuses_duplicates_and_malformed_declarations(monkeypatch):
    monkeypatch.setattr(tops, "TOPS", dict(tops.TOPS))
    with pytest.raises(ValueError, match="already registered"):
        tops.register("st_multiplier", "hw.arith:SumTogetherMultiplier", "again")
    with pytest.raises(TypeError, match=r"must be declared as \(default, help\)"):
        tops.register("t1", "m:a", "help", width=16)
    with pytest.raises(TypeError, match="is not int, bool"):
        tops.register("t2", "m:a", "help", scale=(1.5, "a float"))
    with pytest.raises(ValueError, match="'module:attribute'"):
        tops.register("t3", "hw.arith.MacUnit", "help")


# ---- the command line ---------------------------------------------------------------------------------------------

def test_help_runs_as_a_module():
    done = python_m_hw("--help")
    assert done.returncode == 0
    assert "list" in done.stdout and "verilog" in done.stdout


def test_list_shows_every_top_with_its_defaults(capsys):
    status, out, _ = cli(capsys, "list")
    assert status == 0
    for top in tops.TOPS.values():
        assert top.name in out
        for p in top.params:
            assert f"{p.name}={p.format()}" in out


@pytest.mark.parametrize("argv, message", [
    (["verilog", "no_such_top"], "unknown top 'no_such_top'; valid tops: " + ", ".join(sorted(tops.TOPS))),
    (["verilog", "st_multiplier", "-p", "depth=3"], "has no parameter 'depth'; valid parameters: width, lanes"),
    (["verilog", "st_multiplier", "-p", "lanes=two"], "parameter lanes='two' is not comma-separated ints"),
    (["verilog", "st_multiplier", "-p", "lanes"], "must be written key=value, e.g. width=16"),
    (["verilog", "st_multiplier", "-p", "lanes=3"], "lane counts must be powers of two, not 3"),
    (["verilog"], "name a top or pass --all; valid tops:"),
    (["verilog", "--all", "mac"], "--all emits every top"),
])
def test_user_errors_are_one_line_with_status_2(capsys, argv, message):
    status, out, err = cli(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("python -m hw: error: ")
    assert message in err


def test_unknown_top_from_the_shell_has_no_traceback():
    done = python_m_hw("verilog", "nope")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "valid tops: " in done.stderr


def test_verilog_to_file_matches_the_library(tmp_path, capsys):
    target = tmp_path / "sub" / "st.v"
    status, out, _ = cli(capsys, "verilog", "st_multiplier", "--param", "lanes=1,2", "-p", "pipeline=1",
                         "-o", str(target))
    assert status == 0 and out.strip() == str(target)
    text = target.read_text()
    assert text == tops.verilog("st_multiplier", lanes=(1, 2), pipeline=1)
    assert "module st_multiplier(" in text and "posedge clk" in text


def test_all_writes_every_top_deterministically(tmp_path):
    """Two processes with different hash seeds write byte-identical files, one per top, and print each path."""
    runs = []
    for seed in ("1", "2"):
        out = tmp_path / f"run{seed}"
        done = python_m_hw("verilog", "--all", "--out", str(out), hashseed=seed)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [str(out / f"{name}.v") for name in tops.TOPS]
        runs.append({p.name: p.read_bytes() for p in out.iterdir()})
    assert sorted(runs[0]) == sorted(f"{name}.v" for name in tops.TOPS)
    assert runs[0] == runs[1]
    for name in tops.TOPS:
        assert f"module {name}(".encode() in runs[0][f"{name}.v"]


def test_hw_imports_without_cocotb_quant_or_soc():
    blocked = "import sys\nfor m in ('cocotb', 'cocotb_tools', 'quant', 'soc'): sys.modules[m] = None\n"
    code = blocked + "import hw.tops, hw.__main__\nhw.tops.verilog('fixed_multiplier', arrangement='star')\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

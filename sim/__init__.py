"""Whole-net replay on the RTL engines (``make sim NET=<net>``): plan (:mod:`.plan`), run on Verilator
(:mod:`.rtl`), report (:mod:`.report`); the CLI is ``python -m sim``. Imports ``hw`` and ``cocotb_tests``; ``hw`` never
imports this package."""

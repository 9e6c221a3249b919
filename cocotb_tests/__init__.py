"""Verilator testbenches (cocotb), each started from a pytest function through :mod:`cocotb_tests.runner`."""

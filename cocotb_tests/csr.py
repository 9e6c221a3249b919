"""Testbench side of an engine's CSR port (``csr__*`` signals of the emitted Verilog), shared by the cocotb benches."""

from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["csr_access"]


async def csr_access(dut, addr, data=None):
    """One classic Wishbone CSR access at byte address ``addr`` (a write if ``data`` is given); returns the read data."""
    dut.csr__adr.value = addr // 4
    dut.csr__we.value = int(data is not None)
    dut.csr__dat_w.value = data or 0
    dut.csr__sel.value = 0xF
    dut.csr__cyc.value = dut.csr__stb.value = 1
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if int(dut.csr__ack.value):
            value = int(dut.csr__dat_r.value)
            break
    await RisingEdge(dut.clk)
    dut.csr__cyc.value = dut.csr__stb.value = 0
    return value

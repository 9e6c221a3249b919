"""Stream many vectors per simulated cycle: K copies of a component behind wide ports, driven from numpy.

Python can poke a Verilator model about 35k times a second, so 10**6 vectors one per cycle would take minutes per mode.
:class:`Replicate` instantiates ``copies`` independent instances of a component and concatenates each input port of
theirs into one wide input; each output is registered and sign- (or zero-) extended to 64 bits per copy. One wide write
per port and one wide read per cycle then move ``copies`` vectors, and :class:`WideStream` converts whole numpy batches
to and from those wide integers with ``numpy.packbits``/``frombuffer`` instead of per-copy Python loops.

Copy ``k`` of port ``x`` occupies bits ``[k*len(x), (k+1)*len(x))`` of the wide input and bits ``[64*k, 64*(k+1))``
of a wide output. Latency through the wrapper is the component's latency plus one cycle (the output register).
"""

import numpy as np
from amaranth import Module, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Replicate", "WideStream", "OUT_BITS"]

OUT_BITS = 64


class Replicate(wiring.Component):
    """``copies`` instances of ``factory()`` side by side with concatenated inputs and registered 64-bit outputs.

    Parameters
    ----------
    factory : callable
        Returns a fresh ``wiring.Component`` whose signature has only plain (non-interface) ports, outputs at most
        64 bits wide.
    copies : int
        Number of instances (>= 1).

    Attributes
    ----------
    <each input port> : In(copies * width)
        Copy ``k`` reads bits ``[k*width, (k+1)*width)``.
    <each output port> : Out(copies * 64)
        Copy ``k``'s output, registered (one cycle), extended to 64 bits per its signedness.
    """

    def __init__(self, factory, copies):
        if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
            raise ValueError(f"copies must be a positive int, not {copies!r}")
        self._units = [factory() for _ in range(copies)]
        members = {}
        for name, member in self._units[0].signature.members.items():
            if not member.is_port:
                raise TypeError(f"Replicate supports plain ports only; {name!r} is an interface")
            width = Shape.cast(member.shape).width
            if member.flow is Out and width > OUT_BITS:
                raise ValueError(f"output {name!r} is {width} bits wide; Replicate extends outputs to {OUT_BITS}")
            members[name] = In(copies * width) if member.flow is In else Out(copies * OUT_BITS)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for k, unit in enumerate(self._units):
            m.submodules[f"unit{k}"] = unit
            for name, member in unit.signature.members.items():
                port, wide = getattr(unit, name), getattr(self, name)
                if member.flow is In:
                    m.d.comb += port.eq(wide.word_select(k, len(port)))
                else:
                    m.d.sync += wide.word_select(k, OUT_BITS).eq(port)      # extends per the port's signedness
        return m


def _encode(values, bits):
    """Rows of ``values`` (cycles x copies, each < 2**bits) as one Python int per row, copy k at bit ``k*bits``."""
    values = np.asarray(values, dtype=np.uint64)
    bit_planes = (values[..., None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)
    packed = np.packbits(bit_planes.reshape(len(values), -1).astype(np.uint8), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


class WideStream:
    """Drive a :class:`Replicate` DUT from numpy arrays and collect its outputs, aligned to the inputs.

    Parameters
    ----------
    dut : cocotb handle
        The Replicate top (with ``clk`` running).
    copies : int
        Its number of copies.
    latency : int
        The replicated component's latency in cycles (the wrapper adds one).
    """

    def __init__(self, dut, copies, latency):
        self.dut, self.copies, self.delay = dut, copies, latency + 1

    async def run(self, inputs, outputs):
        """Apply ``inputs`` (``{port: int array (cycles, copies)}``) one row per cycle, on falling clock edges.

        Returns ``{port: int64 array (cycles, copies)}`` for the ``outputs`` port names, row ``t`` being the response
        to input row ``t``. Values are the raw bit patterns for unsigned ports and two's complement for signed ones.
        While the pipeline drains after the last row every input is 0, so control inputs (``valid``, ``clear``) are
        idle and a stateful unit ends the call in the state the last row left it in.
        """
        from cocotb.triggers import FallingEdge

        cycles = len(next(iter(inputs.values())))
        words = {name: _encode(values, len(getattr(self.dut, name)) // self.copies)
                 for name, values in inputs.items()}
        handles = {name: getattr(self.dut, name) for name in inputs}
        out_handles = {name: getattr(self.dut, name) for name in outputs}
        received = {name: bytearray() for name in outputs}
        nbytes = self.copies * OUT_BITS // 8
        for t in range(cycles + self.delay):
            await FallingEdge(self.dut.clk)
            if t >= self.delay:
                for name, handle in out_handles.items():
                    received[name] += handle.value.to_unsigned().to_bytes(nbytes, "little")
            if t <= cycles:
                for name, handle in handles.items():
                    handle.value = words[name][t] if t < cycles else 0
        return {name: np.frombuffer(bytes(data), dtype="<i8").reshape(cycles, self.copies).astype(np.int64)
                for name, data in received.items()}

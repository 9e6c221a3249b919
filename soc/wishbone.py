"""The SoC's Wishbone interconnect: an arbiter for several initiators and an address decoder.

The bus description is :class:`hw.wishbone.Signature` (shared with the engines' DMA and CSR ports); the SoC uses
classic cycles, 32-bit data, byte lanes and the ``err`` feature (:func:`bus_signature`). Addresses are word
addresses.
"""

from amaranth import Module, Signal, Cat
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.wishbone import Signature

__all__ = ["bus_signature", "Arbiter", "Decoder"]


def _check_int(value, name, lo):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be at least {lo}, not {value}")
    return value


def bus_signature(addr_width):
    """The SoC's bus: ``hw.wishbone.Signature`` with 32-bit data, byte lanes and the ``err`` feature."""
    _check_int(addr_width, "addr_width", 0)
    return Signature(addr_width=addr_width, data_width=32, granularity=8, features={"err"})


def _check_signature(signature):
    if not isinstance(signature, Signature) or signature != bus_signature(signature.addr_width):
        raise TypeError(f"signature must be soc.wishbone.bus_signature(addr_width) (32-bit data, byte lanes, err), "
                        f"not {signature!r}")


class Arbiter(wiring.Component):
    """Share one bus among several initiators, round-robin, one whole ``cyc`` cycle at a time.

    Parameters
    ----------
    signature : hw.wishbone.Signature
        The bus of every initiator and of the shared target port (:func:`bus_signature`).
    count : int
        Number of initiator ports, ``>= 1``.

    Attributes
    ----------
    initiators : list of In(signature)
        ``initiators[i]`` is where initiator ``i`` (e.g. 0 = CPU, 1.. = DMA engines) connects.
    bus : Out(signature)
        The shared bus towards the decoder.

    Latency: combinational; a new grant is taken the cycle after the owner drops ``cyc``. An initiator that never
    drops ``cyc`` starves the others (as Wishbone allows).
    """

    def __init__(self, signature, count):
        _check_signature(signature)
        _check_int(count, "count", 1)
        self._count = count
        super().__init__({f"initiator{i}": In(signature) for i in range(count)} | {"bus": Out(signature)})

    @property
    def initiators(self):
        return [getattr(self, f"initiator{i}") for i in range(self._count)]

    def elaborate(self, platform):
        m = Module()
        ports = self.initiators
        grant = Signal(range(self._count))
        owner_cyc = Signal()
        m.d.comb += owner_cyc.eq(Cat(p.cyc for p in ports).bit_select(grant, 1))
        with m.If(~owner_cyc):                       # rotate to the next requester (round-robin)
            with m.Switch(grant):
                for g in range(self._count):
                    with m.Case(g):
                        for k in reversed(range(1, self._count + 1)):
                            nxt = (g + k) % self._count
                            with m.If(ports[nxt].cyc):
                                m.d.sync += grant.eq(nxt)
        with m.Switch(grant):
            for g, port in enumerate(ports):
                with m.Case(g):
                    for name in ("cyc", "stb", "we", "adr", "dat_w", "sel"):
                        m.d.comb += getattr(self.bus, name).eq(getattr(port, name))
                    m.d.comb += [port.ack.eq(self.bus.ack), port.err.eq(self.bus.err)]
        for port in ports:
            m.d.comb += port.dat_r.eq(self.bus.dat_r)
        return m


class Decoder(wiring.Component):
    """Route one initiator to several targets by address window.

    Parameters
    ----------
    signature : hw.wishbone.Signature
        The initiator-side bus (:func:`bus_signature`, full address width).
    windows : list of (int, int)
        ``(base, size)`` in *bytes* of each target, in target order; sizes are powers of two and bases aligned to
        them, windows must not overlap.

    Attributes
    ----------
    bus : In(signature)
        From the arbiter.
    targets : list of Out(bus_signature(log2(size) - 2))
        ``targets[i]`` sees the word address relative to its window.

    Latency: combinational. An access that hits no window is answered with ``err`` in the same cycle, so a bad
    pointer in firmware traps the CPU instead of hanging the bus.
    """

    def __init__(self, signature, windows):
        _check_signature(signature)
        word_bytes = 4
        self._windows = []
        for base, size in windows:
            if size < word_bytes or size & (size - 1) or base % size:
                raise ValueError(f"window (base={base:#x}, size={size:#x}) must have a power-of-two size of at least "
                                 f"{word_bytes} bytes and a base aligned to it")
            for other_base, other_size in self._windows:
                if base < other_base + other_size and other_base < base + size:
                    raise ValueError(f"window {base:#x}+{size:#x} overlaps {other_base:#x}+{other_size:#x}")
            self._windows.append((base, size))
        self._word_shift = word_bytes.bit_length() - 1
        members = {"bus": In(signature)}
        for i, (base, size) in enumerate(self._windows):
            members[f"target{i}"] = Out(bus_signature(size.bit_length() - 1 - self._word_shift))
        super().__init__(members)

    @property
    def targets(self):
        return [getattr(self, f"target{i}") for i in range(len(self._windows))]

    def elaborate(self, platform):
        m = Module()
        hits = []
        for target, (base, size) in zip(self.targets, self._windows):
            low = size.bit_length() - 1 - self._word_shift
            hit = Signal(name=f"hit_{base:x}")
            m.d.comb += [
                hit.eq((self.bus.adr >> low) == (base >> (self._word_shift + low))),
                target.adr.eq(self.bus.adr[:low]),
                target.dat_w.eq(self.bus.dat_w),
                target.sel.eq(self.bus.sel),
                target.we.eq(self.bus.we),
                target.cyc.eq(self.bus.cyc & hit),
                target.stb.eq(self.bus.stb & hit),
            ]
            with m.If(hit):
                m.d.comb += [self.bus.dat_r.eq(target.dat_r), self.bus.ack.eq(target.ack),
                             self.bus.err.eq(target.err)]
            hits.append(hit)
        with m.If(~Cat(hits).any()):
            m.d.comb += self.bus.err.eq(self.bus.cyc & self.bus.stb)
        return m

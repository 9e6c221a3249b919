"""On-chip RAM as a Wishbone target, initialised from the firmware image."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from . import wishbone

__all__ = ["Ram", "words_from_image"]


def words_from_image(image, size):
    """Little-endian 32-bit words of the byte string ``image``, zero-padded to ``size`` bytes.

    Raises ``ValueError`` when the image does not fit (the message says how to fix it).
    """
    if len(image) > size:
        raise ValueError(f"firmware image is {len(image)} bytes but the RAM holds {size}; "
                         f"raise ram_size or shrink the program")
    image = bytes(image) + bytes(size - len(image))
    return [int.from_bytes(image[i:i + 4], "little") for i in range(0, size, 4)]


class Ram(wiring.Component):
    """Single-port RAM with byte-lane writes.

    Parameters
    ----------
    size : int
        Bytes, a power of two ``>= 4``.
    init : bytes
        Image loaded at address 0 (the firmware); the rest is zero.

    Attributes
    ----------
    bus : In(wishbone.bus_signature(log2(size) - 2))

    Latency: ``ack`` one cycle after ``stb`` (2 cycles per access: the ack cycle is not a new access).
    """

    def __init__(self, size, init=b""):
        if isinstance(size, bool) or not isinstance(size, int) or size < 4 or size & (size - 1):
            raise ValueError(f"RAM size must be a power of two of at least 4 bytes, not {size!r}")
        self.size = size
        self._init = words_from_image(init, size)
        super().__init__({"bus": In(wishbone.bus_signature(size.bit_length() - 3))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=32, depth=self.size // 4, init=self._init)
        read = mem.read_port()
        write = mem.write_port(granularity=8)
        access = self.bus.cyc & self.bus.stb & ~self.bus.ack
        m.d.comb += [
            read.addr.eq(self.bus.adr), write.addr.eq(self.bus.adr), write.data.eq(self.bus.dat_w),
            write.en.eq(self.bus.sel & (access & self.bus.we).replicate(4)),
            self.bus.dat_r.eq(read.data),
        ]
        m.d.sync += self.bus.ack.eq(access)
        return m

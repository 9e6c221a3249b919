"""A small Wishbone B4 bus signature for stacc (amaranth-soc is not installable here; this follows its port names).

Members are named as in amaranth-soc's ``wishbone.Signature`` and described from the **initiator's** side: ``Out`` is
driven by the initiator (CPU, DMA master), ``In`` by the target. Use ``Signature(...)`` for an initiator port and
``Signature(...).flip()`` for a target port; ``wiring.connect`` then refuses, at elaboration, to join ports whose
address width, data width or granularity differ.

Cycles
------
* **classic** (no ``"stall"`` feature): the initiator holds ``cyc``, ``stb``, ``adr``, ``we``, ``sel``, ``dat_w`` until
  the target raises ``ack`` (or ``err``) for one cycle; one transfer per handshake, the next may start the cycle after.
* **pipelined** (``"stall"`` feature): a request is accepted in each cycle with ``stb & ~stall``; ``ack`` for accepted
  requests returns in order, possibly later. stacc's DMA master issues classic cycles, which a pipelined target also
  accepts when it keeps ``stall`` low while it has no outstanding request (Wishbone B4 3.1.3).

``adr`` is a *word* address (the byte address shifted right by ``log2(data_width // 8)``); ``sel`` has one bit per
``granularity`` bits of data.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Signature", "FEATURES"]

FEATURES = frozenset({"err", "stall"})


class Signature(wiring.Signature):
    """Wishbone initiator signature.

    Parameters
    ----------
    addr_width : int
        Width of the word address ``adr`` (0..64).
    data_width : int
        8, 16, 32, 64 or 128.
    granularity : int or None
        Bits per ``sel`` bit: 8, 16, 32, 64 or 128, at most ``data_width``; ``None`` means ``data_width``.
    features : iterable of str
        Optional members: ``"err"`` (target error, ``In(1)``), ``"stall"`` (pipelined mode, ``In(1)``).

    Members
    -------
    adr : Out(addr_width)
    dat_w : Out(data_width)
    dat_r : In(data_width)
    sel : Out(data_width // granularity)
    cyc, stb, we : Out(1)
    ack : In(1)
    err, stall : In(1), when the feature is requested.
    """

    def __init__(self, *, addr_width, data_width=32, granularity=None, features=()):
        if isinstance(addr_width, bool) or not isinstance(addr_width, int) or not 0 <= addr_width <= 64:
            raise ValueError(f"Wishbone addr_width must be an int between 0 and 64, not {addr_width!r}")
        if data_width not in (8, 16, 32, 64, 128):
            raise ValueError(f"Wishbone data_width must be one of 8, 16, 32, 64, 128, not {data_width!r}")
        if granularity is None:
            granularity = data_width
        if granularity not in (8, 16, 32, 64, 128) or granularity > data_width:
            raise ValueError(f"Wishbone granularity must be 8, 16, 32, 64 or 128 and at most data_width="
                             f"{data_width}, not {granularity!r}")
        features = frozenset(features)
        if not features <= FEATURES:
            raise ValueError(f"unknown Wishbone feature(s) {sorted(features - FEATURES)}; "
                             f"supported: {sorted(FEATURES)}")
        self.addr_width = addr_width
        self.data_width = data_width
        self.granularity = granularity
        self.features = features
        members = {
            "adr": Out(addr_width),
            "dat_w": Out(data_width),
            "dat_r": In(data_width),
            "sel": Out(data_width // granularity),
            "cyc": Out(1),
            "stb": Out(1),
            "we": Out(1),
            "ack": In(1),
        }
        for name in sorted(features):
            members[name] = In(1)
        super().__init__(members)

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width and other.granularity == self.granularity
                and other.features == self.features)

    def __hash__(self):
        return hash((self.addr_width, self.data_width, self.granularity, self.features))

    def __repr__(self):
        feats = f", features={sorted(self.features)}" if self.features else ""
        return (f"wishbone.Signature(addr_width={self.addr_width}, data_width={self.data_width}, "
                f"granularity={self.granularity}{feats})")

"""pcap and pcapng captures to SIP messages: UDP datagrams, TCP streams, IPv4 fragments.

Packets are decoded with **dpkt**: pure Python with no dependencies and no C extension, it
reads pcap (micro- and nanosecond) and pcapng files from any binary stream, record by record
(a large capture is never loaded whole), and decodes the few layers needed here — Ethernet,
Linux cooked capture (SLL, SLL2), BSD loopback, raw IP, IPv4, IPv6, UDP, TCP. scapy would read
the same files, but it is a far heavier dependency (hundreds of protocol layers dissected and
loaded at import, several times slower per packet, an interactive tool first) for what this
needs: addresses, ports, sequence numbers and payloads.

On top of dpkt, this module keeps what SIP over IP needs and dpkt leaves to its user:

- **UDP**: one message per datagram; IPv4 fragments are reassembled first.
- **TCP**: each direction of each connection is a byte stream, rebuilt in sequence order
  (retransmitted and overlapping segments trimmed, out-of-order ones held until the gap fills);
  messages are cut from it by ``Content-Length`` (``frame_length``), several per segment or one
  over several segments. A message's time is that of the segment that completed it.
- **Bad input** is a :class:`Problem` and the reading goes on: a truncated file (the packets
  before the cut are kept), a packet cut short, non-SIP payload on a SIP port (5060, 5061),
  an unframeable TCP stream (resynced at the next SIP start line), a lost TCP segment.
  Non-SIP packets on other ports (RTP, DNS …) are skipped without a word.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import BinaryIO

import dpkt

from callctl.sip.message import SipParseError, frame_length
from callctl.trace.model import Captured, Item, Problem

SIP_PORTS = frozenset({5060, 5061})
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAP_MAGICS = frozenset(
    {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
)
MAX_PENDING_TCP_BYTES = 1 << 20  # out-of-order bytes held per stream before giving up a gap
MAX_PENDING_FRAGMENTS = 1024  # IPv4 datagrams being reassembled at once

_START = rb"(?:SIP/2\.0 [1-6][0-9][0-9](?: [^\r\n]*)?|[A-Za-z]+ [^ \r\n]+ SIP/2\.0)\r?\n"
_START_LINE = re.compile(_START)
_LINE_START = re.compile(rb"(?:^|\n)(?=" + _START + rb")")


def looks_like_sip(data: bytes) -> bool:
    """Whether ``data`` starts (after keep-alive line ends) with a SIP request or status line."""
    return _START_LINE.match(data.lstrip(b"\r\n")) is not None


def is_capture(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a pcap or pcapng capture."""
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC


def _time(ts: float | Decimal) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


def _address(raw: bytes, port: int) -> str:
    if len(raw) == 16:
        return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{port}"
    return f"{socket.inet_ntop(socket.AF_INET, raw)}:{port}"


def _network_layer(linktype: int, buf: bytes) -> object:
    """The IP packet inside a link-layer frame (a dpkt object, or bytes when undecodable)."""
    if linktype == dpkt.pcap.DLT_EN10MB:
        return dpkt.ethernet.Ethernet(buf).data
    if linktype == dpkt.pcap.DLT_LINUX_SLL:
        return dpkt.sll.SLL(buf).data
    if linktype == 276:  # LINKTYPE_LINUX_SLL2
        return dpkt.sll2.SLL2(buf).data
    if linktype in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        return dpkt.loopback.Loopback(buf).data
    if linktype in (12, 14, 101, 228, 229):  # raw IP
        return dpkt.ip6.IP6(buf) if buf[:1] and buf[0] >> 4 == 6 else dpkt.ip.IP(buf)
    raise ValueError(f"link type {linktype} is not supported")


@dataclass
class _Stream:
    """One direction of a TCP connection being rebuilt."""

    next_seq: int | None = None
    buffer: bytearray = field(default_factory=bytearray)
    pending: dict[int, bytes] = field(default_factory=dict)
    pending_bytes: int = 0


@dataclass
class _Fragments:
    parts: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None


class PacketReader:
    """Turns the records of one capture into :class:`Captured` messages and problems."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], _Stream] = {}
        self.fragments: dict[tuple[bytes, bytes, int], _Fragments] = {}

    def read(self, stream: BinaryIO) -> Iterator[Item]:
        """Every SIP message of a pcap or pcapng capture, in capture order."""
        head = stream.read(4)
        stream.seek(-len(head), 1)
        try:
            reader: dpkt.pcap.Reader | dpkt.pcapng.Reader = (
                dpkt.pcapng.Reader(stream) if head == PCAPNG_MAGIC else dpkt.pcap.Reader(stream)
            )
        except (ValueError, dpkt.UnpackError, struct.error) as exc:
            yield Problem("file header", f"not a readable pcap or pcapng capture ({exc})")
            return
        linktype = reader.datalink()
        number = 0
        records = iter(reader)
        while True:
            try:
                ts, buf = next(records)
            except StopIteration:
                break
            except (ValueError, dpkt.UnpackError, struct.error) as exc:
                yield Problem(
                    f"after packet {number}",
                    f"the capture is truncated or damaged ({type(exc).__name__}): "
                    "the rest of the file is skipped",
                )
                break
            number += 1
            yield from self._packet(number, linktype, ts, buf)
        yield from self.finish()

    def _packet(
        self, number: int, linktype: int, ts: float | Decimal, buf: bytes
    ) -> Iterator[Item]:
        where = f"packet {number}"
        try:
            at = _time(ts)
            ip = _network_layer(linktype, buf)
        except (ValueError, OverflowError, OSError, dpkt.UnpackError, struct.error) as exc:
            yield Problem(where, f"cannot be decoded: {exc}")
            return
        if isinstance(ip, dpkt.ip.IP):
            if len(ip) < ip.len or len(bytes(ip.data)) + ip.hl * 4 < ip.len:
                yield Problem(where, "the packet is cut short (snap length or a truncated file)")
                return
            if ip.mf or ip.offset:
                yield from self._fragment(where, at, ip)
                return
            src, dst, transport = ip.src, ip.dst, ip.data
        elif isinstance(ip, dpkt.ip6.IP6):
            src, dst, transport = ip.src, ip.dst, ip.data
        else:
            return  # ARP and other non-IP frames
        if isinstance(transport, dpkt.udp.UDP):
            yield from self._udp(where, at, src, dst, transport)
        elif isinstance(transport, dpkt.tcp.TCP):
            yield from self._tcp(where, at, src, dst, transport)

    def _udp(
        self, where: str, at: datetime, src: bytes, dst: bytes, udp: dpkt.udp.UDP
    ) -> Iterator[Item]:
        payload = bytes(udp.data)
        if udp.ulen - 8 > len(payload):
            yield Problem(where, "the UDP datagram is cut short (snap length or a truncated file)")
            return
        if not payload.strip(b"\r\n\0 "):
            return  # keep-alive
        sip_port = udp.sport in SIP_PORTS or udp.dport in SIP_PORTS
        if not looks_like_sip(payload):
            if sip_port:
                yield Problem(where, f"UDP {udp.sport} → {udp.dport}: not a SIP message")
            return
        yield Captured(
            at, payload, where, "UDP", _address(src, udp.sport), _address(dst, udp.dport)
        )

    def _fragment(self, where: str, at: datetime, ip: dpkt.ip.IP) -> Iterator[Item]:
        key = (ip.src, ip.dst, ip.id)
        frags = self.fragments.setdefault(key, _Fragments())
        offset = ip.offset * 8
        raw = bytes(ip.data)
        frags.parts[offset] = raw
        if not ip.mf:
            frags.total = offset + len(raw)
        if len(self.fragments) > MAX_PENDING_FRAGMENTS:
            oldest = next(iter(self.fragments))
            del self.fragments[oldest]
            yield Problem(where, "too many incomplete IP fragments: the oldest is dropped")
        if frags.total is None:
            return
        data = bytearray()
        for start in sorted(frags.parts):
            if start > len(data):
                return  # a fragment is still missing
            data[start:] = frags.parts[start]
        if len(data) < frags.total:
            return
        del self.fragments[key]
        if ip.p != dpkt.ip.IP_PROTO_UDP:
            return
        try:
            udp = dpkt.udp.UDP(bytes(data[: frags.total]))
        except (dpkt.UnpackError, struct.error) as exc:
            yield Problem(where, f"the reassembled IP datagram is not UDP ({exc})")
            return
        yield from self._udp(where, at, ip.src, ip.dst, udp)

    def _tcp(
        self, where: str, at: datetime, src: bytes, dst: bytes, tcp: dpkt.tcp.TCP
    ) -> Iterator[Item]:
        source, destination = _address(src, tcp.sport), _address(dst, tcp.dport)
        key = (source, destination)
        stream = self.streams.setdefault(key, _Stream())
        data = bytes(tcp.data)
        seq = tcp.seq
        if tcp.flags & dpkt.tcp.TH_SYN:
            stream.next_seq = (seq + 1) & 0xFFFFFFFF
            stream.buffer.clear()
            stream.pending.clear()
            stream.pending_bytes = 0
            seq = (seq + 1) & 0xFFFFFFFF
        if data:
            if stream.next_seq is None:
                stream.next_seq = seq  # the capture began mid-connection
            yield from self._segment(where, at, key, stream, seq=seq, data=data)
        if tcp.flags & (dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST):
            yield from self._close(where, key, stream)

    def _segment(
        self,
        where: str,
        at: datetime,
        key: tuple[str, str],
        stream: _Stream,
        *,
        seq: int,
        data: bytes,
    ) -> Iterator[Item]:
        assert stream.next_seq is not None
        ahead = (seq - stream.next_seq) & 0xFFFFFFFF
        if ahead >= 1 << 31:  # starts before what we have: a retransmission or an overlap
            behind = (stream.next_seq - seq) & 0xFFFFFFFF
            if behind >= len(data):
                return
            data, ahead = data[behind:], 0
        if ahead:
            if seq not in stream.pending:
                stream.pending[seq] = data
                stream.pending_bytes += len(data)
            if stream.pending_bytes <= MAX_PENDING_TCP_BYTES:
                return
            # A segment was lost: give the gap up, go on from the first held segment.
            yield Problem(
                where,
                f"TCP {key[0]} → {key[1]}: a segment is missing from the "
                "capture; the message it was part of is lost",
            )
            stream.buffer.clear()
            base = stream.next_seq
            seq = min(stream.pending, key=lambda s: (s - base) & 0xFFFFFFFF)
            stream.next_seq = seq
            data = stream.pending.pop(seq)
            stream.pending_bytes -= len(data)
        stream.buffer += data
        stream.next_seq = (stream.next_seq + len(data)) & 0xFFFFFFFF
        while stream.next_seq in stream.pending:
            more = stream.pending.pop(stream.next_seq)
            stream.pending_bytes -= len(more)
            stream.buffer += more
            stream.next_seq = (stream.next_seq + len(more)) & 0xFFFFFFFF
        yield from self._messages(where, at, key, stream)

    def _messages(
        self, where: str, at: datetime, key: tuple[str, str], stream: _Stream
    ) -> Iterator[Item]:
        buf = stream.buffer
        pos = 0
        while pos < len(buf):
            try:
                length = frame_length(buf, pos)
            except SipParseError as exc:
                yield Problem(
                    where, f"TCP {key[0]} → {key[1]}: {exc}; skipped to the next SIP start line"
                )
                found = _LINE_START.search(buf, pos + 1)
                pos = len(buf) if found is None else found.end()
                continue
            if length is None:
                break
            message = bytes(buf[pos : pos + length]).lstrip(b"\r\n")
            pos += length
            if not looks_like_sip(message):
                yield Problem(where, f"TCP {key[0]} → {key[1]}: not a SIP message")
                continue
            yield Captured(at, message, where, "TCP", key[0], key[1])
        del buf[:pos]

    def _close(self, where: str, key: tuple[str, str], stream: _Stream) -> Iterator[Item]:
        left = bytes(stream.buffer).strip(b"\r\n")
        if left or stream.pending:
            yield Problem(
                where,
                f"TCP {key[0]} → {key[1]}: the connection closed in the "
                f"middle of a message ({len(left)} bytes left unread)",
            )
        self.streams.pop(key, None)

    def finish(self) -> Iterator[Item]:
        """Problems for what the capture left half-done (open streams, lone fragments)."""
        for key, stream in list(self.streams.items()):
            left = bytes(stream.buffer).strip(b"\r\n")
            if left or stream.pending:
                yield Problem(
                    "end of capture",
                    f"TCP {key[0]} → {key[1]}: a message was cut off ({len(left)} bytes unread)",
                )
        self.streams.clear()
        if self.fragments:
            yield Problem(
                "end of capture",
                f"{len(self.fragments)} IP datagram(s) with fragments missing were skipped",
            )
        self.fragments.clear()


def read_packets(stream: BinaryIO) -> Iterator[Item]:
    """Every SIP message of a pcap or pcapng capture read from a seekable binary stream."""
    return PacketReader().read(stream)

"""Writing captures with dpkt: SIP messages as UDP or TCP packets, and captures moved in time.

For the fixtures (``scripts/make-traces`` moves each capture to a fixed date so its rating
does not depend on the day it was made), the tests (TCP segments split and merged, IPv4
fragments) and the replay benchmark (a generated capture of many calls).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import BinaryIO, NamedTuple

import dpkt

from callctl.trace.packets import PCAPNG_MAGIC

Frame = tuple[float, bytes]
"""A packet to write: its epoch time and its Ethernet frame."""


class Flow(NamedTuple):
    """Where packets go: IPv4 addresses and ports."""

    src: str
    sport: int
    dst: str
    dport: int


def _ipv4(
    flow: Flow, proto: int, payload: bytes, *, ident: int = 1, mf: int = 0, offset: int = 0
) -> dpkt.ip.IP:
    src, dst = socket.inet_aton(flow.src), socket.inet_aton(flow.dst)
    ip = dpkt.ip.IP(src=src, dst=dst, p=proto, id=ident, ttl=64)
    ip.mf, ip.offset = mf, offset
    ip.data = payload
    ip.len = 20 + len(payload)
    return ip


def _ethernet(ip: dpkt.ip.IP) -> bytes:
    eth = dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x00" * 6, type=dpkt.ethernet.ETH_TYPE_IP)
    eth.data = ip
    return bytes(eth)


def _udp(flow: Flow, payload: bytes) -> bytes:
    udp = dpkt.udp.UDP(sport=flow.sport, dport=flow.dport)
    udp.data = payload
    udp.ulen = 8 + len(payload)
    return bytes(udp)


def udp_frame(flow: Flow, payload: bytes) -> bytes:
    """One Ethernet/IPv4/UDP frame carrying ``payload``."""
    return _ethernet(_ipv4(flow, dpkt.ip.IP_PROTO_UDP, _udp(flow, payload)))


def udp_fragments(flow: Flow, payload: bytes, *, size: int, ident: int) -> list[bytes]:
    """The frames of one UDP datagram cut into IPv4 fragments of ``size`` bytes (a multiple
    of 8), in order."""
    raw = _udp(flow, payload)
    frames = []
    for start in range(0, len(raw), size):
        more = 1 if start + size < len(raw) else 0
        part = raw[start : start + size]
        ip = _ipv4(flow, dpkt.ip.IP_PROTO_UDP, part, ident=ident, mf=more, offset=start // 8)
        frames.append(_ethernet(ip))
    return frames


def tcp_frame(flow: Flow, seq: int, payload: bytes, *, flags: int = 0) -> bytes:
    """One Ethernet/IPv4/TCP frame (ACK set, plus ``flags``)."""
    tcp = dpkt.tcp.TCP(sport=flow.sport, dport=flow.dport, seq=seq, flags=dpkt.tcp.TH_ACK | flags)
    tcp.data = payload
    return _ethernet(_ipv4(flow, dpkt.ip.IP_PROTO_TCP, bytes(tcp)))


def write_capture(handle: BinaryIO, frames: Iterable[Frame], *, pcapng: bool = False) -> int:
    """Write Ethernet frames as a pcap (microseconds) or pcapng file; how many were written."""
    writer = dpkt.pcapng.Writer(handle) if pcapng else dpkt.pcap.Writer(handle)
    count = 0
    for ts, frame in frames:
        writer.writepkt(frame, ts=ts)
        count += 1
    return count


def read_frames(handle: BinaryIO) -> tuple[int, Iterator[Frame]]:
    """The link type and the records of a pcap or pcapng capture."""
    head = handle.read(4)
    handle.seek(-len(head), 1)
    reader = dpkt.pcapng.Reader(handle) if head == PCAPNG_MAGIC else dpkt.pcap.Reader(handle)
    return reader.datalink(), ((float(ts), bytes(buf)) for ts, buf in reader)


def retime(source: BinaryIO, target: BinaryIO, start: datetime, *, pcapng: bool) -> int:
    """Copy a capture, every packet moved by the same amount so the first is at ``start``."""
    linktype, frames = read_frames(source)
    items = list(frames)
    if not items:
        return 0
    shift = start.timestamp() - items[0][0]
    if pcapng:
        writer: dpkt.pcapng.Writer | dpkt.pcap.Writer = dpkt.pcapng.Writer(
            target, linktype=linktype
        )
    else:
        writer = dpkt.pcap.Writer(target, linktype=linktype)
    for ts, buf in items:
        writer.writepkt(buf, ts=ts + shift)
    return len(items)

"""Captured SIP traffic: packets (pcap, pcapng) and text captures to SIP messages, then to calls.

- ``model``: what the readers yield (a captured message with its time and addresses, or a
  problem with the input) and the limits they keep to;
- ``packets``: pcap and pcapng captures (UDP, TCP with stream reassembly, IPv4 fragments);
- ``text``: plain SIP messages one after another, or SIPp ``-trace_msg`` logs;
- ``dialogs``: messages to calls (dialogs rebuilt by Call-ID and tags, with answer and end
  times from the trace);
- ``files``: the adapter that opens capture files and picks the reader.

Everything but ``files`` is pure: bytes (or a binary stream) in, values out, no clock.
"""

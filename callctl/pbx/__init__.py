"""The test PBX: a real Asterisk 22 in a Debian sid chroot, with callctl's dialplan."""

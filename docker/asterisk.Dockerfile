# syntax=docker/dockerfile:1
# Asterisk 22 from Debian sid with callctl's configuration (dialplan/*.conf): the same PBX
# as `callctl pbx up` builds in a chroot (shared/spec/pbx-lab.md), as an image.
#
# Build context: the repository root (compose.yaml does this):
#   docker build -f docker/asterisk.Dockerfile -t callctl-asterisk .
#
# amd64 only: dialplan/asterisk.conf names the module folder
# /usr/lib/x86_64-linux-gnu/asterisk/modules.
FROM debian:sid-slim

ARG DEBIAN_FRONTEND=noninteractive

# policy-rc.d first: otherwise installing the package starts Asterisk with its stock
# configuration. The sid mirror's Release file may be past its validity date, hence
# Check-Valid-Until=false.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
 && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get -qq -o Acquire::Check-Valid-Until=false update \
 && apt-get -qq install -y --no-install-recommends asterisk asterisk-modules asterisk-config \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# callctl's patches to Asterisk (dialplan/patches/README.md): res_geolocation.so rebuilt
# from Debian's source of the installed version, as `callctl pbx up` does in its chroot.
COPY dialplan/patches /tmp/callctl-patches
RUN sh /tmp/callctl-patches/rebuild-res-geolocation \
 && rm -rf /tmp/callctl-patches /var/lib/apt/lists/*

# The package's sample files out of the way; only callctl's configuration is read.
RUN mv /etc/asterisk /etc/asterisk.dist && install -d -o root -g asterisk -m 0750 /etc/asterisk
COPY dialplan/*.conf /etc/asterisk/
RUN chown root:asterisk /etc/asterisk/*.conf \
 && chmod 0640 /etc/asterisk/*.conf \
 && install -d -o asterisk -g asterisk /run/asterisk /var/log/asterisk/cdr-custom \
        /var/lib/asterisk /var/spool/asterisk

# SIP on 127.0.0.1:5060 (dialplan/pjsip.conf); compose.yaml runs this on the host network.
EXPOSE 5060/udp

HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD asterisk -rx "core waitfullybooted" | grep -qi "fully booted"

# Started as root to own its folders (a fresh volume on cdr-custom is root's), then Asterisk
# drops to the asterisk user itself (-U/-G). Foreground: the container lives as long as it.
CMD ["sh", "-c", "chown asterisk:asterisk /run/asterisk /var/log/asterisk/cdr-custom && exec asterisk -f -U asterisk -G asterisk"]

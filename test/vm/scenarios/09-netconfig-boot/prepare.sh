#!/bin/bash
# Before the daemon starts: the admin's config, and persistent network config that names the NIC
# (networkd), while the NIC itself is still down and unconfigured at this point of the boot.
install -D -m 0644 config.toml /etc/pcie-passthroughd/config.toml
install -d /etc/systemd/network
printf '[Match]\nName=enp2s0\n\n[Network]\nAddress=192.0.2.10/24\n' >/etc/systemd/network/20-uplink.network

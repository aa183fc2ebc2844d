#!/bin/bash
# Before the daemon starts: the admin's config is in place at boot.
install -D -m 0644 config.toml /etc/pcie-passthroughd/config.toml

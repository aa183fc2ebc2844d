#!/bin/bash
# Boot 1 only: the admin's config is in place; the daemon writes the early claims from it.
[ "$BOOT" = 1 ] || exit 0
install -D -m 0644 config.toml /etc/pcie-passthroughd/config.toml

#!/bin/bash
# The admin's config on the root file system too (the initramfs carries the claims made from the same file).
install -D -m 0644 config.toml /etc/pcie-passthroughd/config.toml

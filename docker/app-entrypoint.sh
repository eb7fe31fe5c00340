#!/bin/sh
# Prepares the node (secrets must already be in the mounted settings file, prompts, database
# migrations, Asterisk configuration into the shared volume), then runs the app in the
# foreground. The Asterisk root is not built here: the asterisk image is the root.
set -eu
hotline install --no-root
hotline asterisk render --module-dir "${ASTERISK_MODULE_DIR:-/usr/lib/x86_64-linux-gnu/asterisk/modules}"
exec python -m app

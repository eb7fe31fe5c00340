#!/bin/sh
# Runs Asterisk in the foreground on the configuration the app container rendered into the
# shared /srv/hotline volume (`hotline asterisk render`), as the image's asterisk user.
set -eu
inst="/srv/hotline/${HOTLINE_INSTANCE}"
for i in $(seq 1 60); do
  [ -f "$inst/etc/asterisk.conf" ] && break
  echo "waiting for $inst/etc/asterisk.conf (rendered by the app container)"; sleep 2
done
chown -R asterisk:asterisk "$inst/etc" "$inst/run" "$inst/log" "$inst/lib" "$inst/cache" "$inst/prompts"
chown asterisk:asterisk "$inst/spool" "$inst/spool/monitor"
exec asterisk -f -C "$inst/etc/asterisk.conf" -U asterisk -G asterisk

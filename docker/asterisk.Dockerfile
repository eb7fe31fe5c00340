# Asterisk 22 from Debian's package — the same package the tests run in the sid root.
FROM debian:sid-slim
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-core-sounds-en-wav asterisk-moh-opsound-wav \
 && rm -rf /var/lib/apt/lists/*
COPY docker/asterisk-entrypoint.sh /usr/local/bin/asterisk-entrypoint
ENV HOTLINE_INSTANCE=default
ENTRYPOINT ["/usr/local/bin/asterisk-entrypoint"]

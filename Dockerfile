# orgid's image: built in a Rust stage, run on Debian slim as an unprivileged user.
#   docker build -t orgid .
#   docker compose -f packaging/compose.yaml up   (orgid with PostgreSQL and OpenLDAP, for a trial)
# Secrets come from the environment (ORGID__IDENTITY__PERSON_KEY_SECRET, ORGID__LDAP__BIND_PASSWORD).

FROM rust:1.94-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p orgid \
 && install -D target/release/orgid /out/orgid \
 && /out/orgid man > /out/orgid.1 \
 && /out/orgid completions bash > /out/orgid.bash

FROM debian:bookworm-slim AS runtime
# ca-certificates: LDAPS and StartTLS; postgresql-client: pg_dump/pg_restore for `orgid backup`
# with a PostgreSQL store (Debian 12's are version 15: the server must not be newer).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/orgid --create-home --shell /usr/sbin/nologin orgid \
 && install -d -o orgid -g orgid -m 0700 /var/lib/orgid-keys /var/backups/orgid
COPY --from=build /out/orgid /usr/bin/orgid
COPY --from=build /out/orgid.1 /usr/share/man/man1/orgid.1
COPY --from=build /out/orgid.bash /usr/share/bash-completion/completions/orgid
COPY packaging/orgid.toml /etc/orgid/orgid.toml
USER orgid
WORKDIR /var/lib/orgid
ENV ORGID_CONFIG=/etc/orgid/orgid.toml \
    ORGID__SERVER__LISTEN=0.0.0.0:8080
EXPOSE 8080
VOLUME ["/var/lib/orgid", "/var/lib/orgid-keys", "/var/backups/orgid"]
# SIGTERM drains; SIGHUP reloads.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/orgid"]
CMD ["serve"]

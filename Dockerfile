# claimsd and its flood tools in a slim Debian image. Build: docker build -t claimsd .
# (docker-compose.yml builds it too.) The build stage needs the C client libraries' headers;
# the runtime stage only their shared libraries.
FROM swift:6.1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev libhiredis-dev libsystemd-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib \
        --product claimsd --product flood-api --product flood-loki --product generate-error-logs \
    && mkdir /out \
    && cp .build/release/claimsd .build/release/flood-api .build/release/flood-loki .build/release/generate-error-logs /out/

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 libhiredis0.14 libsystemd0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/claimsd --create-home claimsd \
    && install -d -o claimsd -m 0755 /var/lib/claimsd/secrets
COPY --from=build /out/ /usr/local/bin/
COPY alerts /etc/claimsd/alerts
COPY deploy/claimsd/scrape.yml /etc/claimsd/scrape.yml
USER claimsd
WORKDIR /var/lib/claimsd
ENV CLAIMS_HOST=0.0.0.0 \
    CLAIMS_LOG_TARGET=stdout \
    CLAIMS_TSDB_PATH=/var/lib/claimsd/tsdb \
    CLAIMS_RULE_FILES=/etc/claimsd/alerts/*.yml
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD ["/usr/local/bin/claimsd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/claimsd"]
CMD ["serve"]

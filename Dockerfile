# syntax=docker/dockerfile:1
#
# jitbot's container image: a static binary on distroless "static" (CA
# certificates, /etc/passwd, tzdata; no shell, no package manager), run as
# the non-root user 65532. The configuration comes from a mounted file,
# /etc/jitbot/jitbot.yaml; secrets come from the environment
# (MicrosoftAppId, MicrosoftAppPassword, AZURE_*, JITBOT_AUDIT_*, and any
# ${VAR} the file names). A SQLite database lives in the volume
# /var/lib/jitbot; with PostgreSQL nothing is written there.
#
#   docker build -t jitbot .
#   docker run --rm -p 3978:3978 -v jitbot-data:/var/lib/jitbot \
#     -v "$PWD/jitbot.yaml:/etc/jitbot/jitbot.yaml:ro" --env-file jitbot.env jitbot
#
# The binary is built by build/static.sh, which CI runs too (.ci/run); keep
# the build flags there, not here. Go stamps the git revision from the
# build context's .git (kept in the context on purpose, see .dockerignore);
# without it, pass --build-arg JITBOT_VERSION=<version>.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG JITBOT_VERSION=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    JITBOT_VERSION="$JITBOT_VERSION" sh build/static.sh /out/jitbot \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="jitbot" \
      org.opencontainers.image.description="Just-in-time access to Entra ID groups, approved in Microsoft Teams"
COPY --from=build /out/jitbot /usr/local/bin/jitbot
# The data directory belongs to the user that runs jitbot, so that a new
# named volume mounted here starts out writable by it.
COPY --from=build --chown=65532:65532 /out/data /var/lib/jitbot
USER 65532:65532
WORKDIR /var/lib/jitbot
VOLUME ["/var/lib/jitbot"]
EXPOSE 3978
# Docker's own health check (docker run): the process answers /healthz on
# the messaging port, whatever metrics_listen says. compose.yaml asks
# /readyz on metrics_listen instead (jitbot healthcheck --url
# http://127.0.0.1:9464/readyz); Azure Container Apps and Kubernetes probe
# over HTTP (docs/deploy.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/jitbot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/jitbot"]
CMD ["serve", "--config", "/etc/jitbot/jitbot.yaml"]

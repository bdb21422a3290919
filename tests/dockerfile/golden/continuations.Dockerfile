# syntax=docker/dockerfile:1.7
FROM debian:bookworm-slim AS base
RUN set -eux; \
    apt-get update; \
    # comments inside a continuation are dropped
    apt-get install -y --no-install-recommends \
        ca-certificates \
      # indented comment
        curl \

        git; \
    rm -rf /var/lib/apt/lists/*
RUN echo "backslash at end" \\
RUN echo next
RUN echo trailing-space-after-escape \   
    continued
LABEL a=b \
      c="d e" \
      f='g h'
ENV PATH=/opt/bin:$PATH \
    LANG=C.UTF-8
ENV LEGACY some value with  spaces
ARG VERSION=1.0 OTHER
EXPOSE 80 443/tcp   53/udp

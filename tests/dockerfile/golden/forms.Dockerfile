FROM alpine
CMD ["echo", "exec form"]
CMD [ "echo", 'single quotes are not JSON' ]
ENTRYPOINT ["/bin/sh", "-c",]
RUN ["sh", "-c", "echo \"escaped\" \u00e9"]
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN [echo not json]
VOLUME ["/data", "/logs"]
VOLUME /a /b
COPY ["src file", "dst dir/"]
ADD --chown=1000:1000 --link https://example.com/a.tgz /opt/
COPY --from=builder --chmod=0755 /out/bin /usr/local/bin/
HEALTHCHECK --interval=30s --timeout=3s CMD ["curl", "-f", "http://localhost/"]
HEALTHCHECK NONE
STOPSIGNAL SIGTERM
USER app:app
MAINTAINER someone <someone@example.com>
ONBUILD RUN echo triggered
ONBUILD COPY --from=x a b
frobnicate whatever it says

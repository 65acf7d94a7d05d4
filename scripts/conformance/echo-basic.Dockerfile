# The suite's echo backend (sigs.k8s.io/gateway-api/conformance/echo-basic), as upstream's
# docker/Dockerfile.echo-basic builds it but on no base image: the static binary is built
# by scripts/conformance.sh with the host's Go (no registry is needed). 65532 is
# distroless's nonroot user, as upstream runs it.
FROM scratch
COPY echo-basic /echo-basic
USER 65532:65532
ENTRYPOINT ["/echo-basic"]

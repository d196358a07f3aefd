# SPDX-License-Identifier: Apache-2.0
#
# A small static image of the asyncmcp CLI (no shell, no libc; CA
# certificates included). Build it with:
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t asyncmcp .
#
# and run, for example, the proxy in front of a server behind SQS:
#
#   docker run -p 8080:8080 -e BACKEND_TRANSPORT=sqs \
#     -e ASYNCMCP_QUEUE_URL=https://sqs.../mcp-requests -e AWS_REGION=... asyncmcp
#
# The environment contract is in the README ("Container image"). The image
# has no language runtime, so `proxy -- COMMAND` and `serve -- COMMAND` can
# only start programs you add to it (build FROM an image with your runtime
# and copy /usr/local/bin/asyncmcp into it).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -buildid= ${VERSION:+-X main.version=${VERSION}}" \
      -o /out/asyncmcp ./cmd/asyncmcp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/asyncmcp /usr/local/bin/asyncmcp
# Listen on every interface of the container, port 8080; override with -e.
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/asyncmcp"]
CMD ["proxy"]

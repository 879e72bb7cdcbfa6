# clbdrain images: the worker, the starter and the clbsim emulator in one image.
# docker build -t clbdrain . ; docker compose (see docker-compose.yaml) builds it too.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/worker ./cmd/starter ./cmd/clbsim

FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata && adduser -D -u 10001 clbdrain
COPY --from=build /out/ /usr/local/bin/
COPY demo/ /demo/
USER clbdrain
EXPOSE 9090 9000
ENTRYPOINT ["/usr/local/bin/worker"]

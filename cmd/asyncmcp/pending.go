package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/stdio"
)

func (w *webhookClientFlags) hybridDialer(log *slog.Logger) (bridge.Dialer, func(), error) {
	return nil, nil, usagef("hybrid: not wired yet")
}

func (o *serveOptions) serveHybrid(ctx context.Context, cmd *stdio.Command, stdout io.Writer, log *slog.Logger) error {
	return usagef("hybrid: not wired yet")
}

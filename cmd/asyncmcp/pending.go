package main

import (
	"context"
	"log/slog"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/aws/aws-sdk-go-v2/aws"
	"io"
)

func snsSQSListener(cfg aws.Config, q *queueFlags, log *slog.Logger) (bridge.Listener, error) {
	return nil, usagef("sns-sqs: not wired yet")
}

func snsSQSDialer(ctx context.Context, cfg aws.Config, q *queueFlags, log *slog.Logger) (bridge.Dialer, func(), error) {
	return nil, nil, usagef("sns-sqs: not wired yet")
}

func (w *webhookClientFlags) hybridDialer(log *slog.Logger) (bridge.Dialer, func(), error) {
	return nil, nil, usagef("hybrid: not wired yet")
}

func (o *serveOptions) serveHybrid(ctx context.Context, cmd *stdio.Command, stdout io.Writer, log *slog.Logger) error {
	return usagef("hybrid: not wired yet")
}

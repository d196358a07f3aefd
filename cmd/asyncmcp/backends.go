package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/asyncmcp/asyncmcp-go/bridge"
)

// backendOptions select and configure an asynchronous back.
type backendOptions struct {
	kind string
}

func (b *backendOptions) register(fs *flagSet, group string) {
	fs.stringVar(&b.kind, []string{"--backend"}, "KIND", group, "reach the server through sqs, sns-sqs, webhook or hybrid (or set BACKEND_TRANSPORT)")
}

// fromEnv fills unset options from the environment, for containers.
func (b *backendOptions) fromEnv() {
	if b.kind == "" {
		b.kind = os.Getenv("BACKEND_TRANSPORT")
	}
}

// dialer builds the back for the selected kind; close releases what it holds.
func (b *backendOptions) dialer(ctx context.Context, log *slog.Logger) (bridge.Dialer, func(), error) {
	return nil, nil, usagef("--backend %q is not available in this build", b.kind)
}

package main

import (
	"context"
	"io"
)

func runServe(ctx context.Context, args []string, stdin io.ReadCloser, stdout io.WriteCloser, stderr io.Writer) error {
	return usagef("serve: no transport available yet")
}

// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// TestListenerRefusesMalformed: lines a stdio client sends that are not
// valid JSON-RPC, or would be forwarded changed, are answered with a
// JSON-RPC error on stdout and never reach the bridge; valid ones do,
// unchanged.
func TestListenerRefusesMalformed(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	l := &Listener{Reader: inR, Writer: outW, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLineBytes: 1024}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		io.WriteString(inW, `{"jsonrpc":"2.0","method":""}`+"\n"+
			`{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}`+"\n"+
			`{"jsonrpc":"2.0","ID":2,"method":"tools/list"}`+"\n"+
			"not json\n"+
			`{"jsonrpc":"2.0","id":3,"method":"x","params":{"p":"`+strings.Repeat("a", 2000)+`"}}`+"\n"+
			"\n"+
			`{"jsonrpc":"2.0","id":9007199254740991,"method":"tools/list"}`+"\n")
	}()
	replies := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			replies <- sc.Text()
		}
	}()
	for _, want := range []string{`"id":null,"error":{"code":-32600`, `"id":1.5,"error":{"code":-32600`, `"id":null,"error":{"code":-32600`,
		`"id":null,"error":{"code":-32700`, `"id":null,"error":{"code":-32600,"message":"Invalid Request: message longer than 1024 bytes"`} {
		select {
		case got := <-replies:
			if !strings.Contains(got, want) {
				t.Errorf("reply %s, want %s", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("no reply containing %s", want)
		}
	}
	m, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := jsonrpc.EncodeMessage(m)
	if string(b) != `{"jsonrpc":"2.0","id":9007199254740991,"method":"tools/list"}` {
		t.Errorf("forwarded %s", b)
	}
	inW.Close()
	if _, err := conn.Read(ctx); err != io.EOF {
		t.Errorf("Read after stdin closed: %v, want EOF", err)
	}
}

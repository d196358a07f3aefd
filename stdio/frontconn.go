// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultMaxFrontLine bounds one line a stdio client sends.
const DefaultMaxFrontLine = 32 << 20

// frontConn is the connection of a stdio client: newline-delimited JSON-RPC
// on a reader and a writer. Every line passes rpcmsg.Decode; one that is
// refused (malformed, or a message that would be forwarded changed) is
// answered on the writer with a JSON-RPC error echoing its id, logged, and
// never handed on.
type frontConn struct {
	r   io.ReadCloser
	w   io.WriteCloser
	log *slog.Logger
	max int

	in     chan jsonrpc.Message
	errc   chan error // the read error that ended the input
	closed chan struct{}
	once   sync.Once
	wmu    sync.Mutex
}

func newFrontConn(r io.ReadCloser, w io.WriteCloser, log *slog.Logger, max int) *frontConn {
	if log == nil {
		log = slog.Default()
	}
	if max <= 0 {
		max = DefaultMaxFrontLine
	}
	c := &frontConn{r: r, w: w, log: log, max: max, in: make(chan jsonrpc.Message), errc: make(chan error, 1), closed: make(chan struct{})}
	go c.readLoop()
	return c
}

var errFrontLineTooLong = errors.New("line too long")

func (c *frontConn) readLoop() {
	br := bufio.NewReaderSize(c.r, 64<<10)
	for {
		line, err := c.readLine(br)
		if errors.Is(err, errFrontLineTooLong) {
			c.log.Warn("stdio client sent a line over the limit; refused", "limit", c.max)
			de := &rpcmsg.DecodeError{Code: jsonrpc.CodeInvalidRequest, Err: fmt.Errorf("message longer than %d bytes", c.max)}
			c.writeLine(de.Response())
			continue
		}
		if len(bytes.TrimSpace(line)) > 0 {
			msg, derr := rpcmsg.Decode(line)
			if derr != nil {
				c.log.Warn("refused message from stdio client", "err", derr, "line", string(line[:min(len(line), 200)]))
				if de, ok := errors.AsType[*rpcmsg.DecodeError](derr); ok {
					c.writeLine(de.Response())
				}
			} else {
				select {
				case c.in <- msg:
				case <-c.closed:
					return
				}
			}
		}
		if err != nil {
			c.errc <- err
			return
		}
	}
}

// readLine returns the next line without its end, or errFrontLineTooLong after
// skipping the rest of a line over the limit.
func (c *frontConn) readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > c.max+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong && err == nil {
			return nil, errFrontLineTooLong
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}

func (c *frontConn) writeLine(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closed:
		return mcp.ErrConnectionClosed
	default:
	}
	if _, err := c.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing to stdio client: %w", err)
	}
	return nil
}

// SessionID implements mcp.Connection.
func (c *frontConn) SessionID() string { return "" }

// Read returns the next valid message from the client.
func (c *frontConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-c.in:
		return m, nil
	case err := <-c.errc:
		c.errc <- err // later calls see it too
		return nil, err
	case <-c.closed:
		return nil, mcp.ErrConnectionClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Write sends one message to the client on its own line.
func (c *frontConn) Write(ctx context.Context, m jsonrpc.Message) error {
	b, err := jsonrpc.EncodeMessage(m)
	if err != nil {
		return fmt.Errorf("encoding message for stdio client: %w", err)
	}
	return c.writeLine(b)
}

// Close closes the reader and the writer.
func (c *frontConn) Close() error {
	var err error
	c.once.Do(func() {
		c.wmu.Lock()
		close(c.closed)
		c.wmu.Unlock()
		err = errors.Join(c.r.Close(), c.w.Close())
	})
	return err
}

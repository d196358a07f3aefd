// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/tasks"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// A modernCorrelation is what [Client.RoundTrip] reports with
// tasks.SetCorrelation, so that a later process can recognise the answer of
// a stateless request on the response queue: its RequestKey, the ClientId it
// was sent with (a cancel must present both) and where the answer goes.
type modernCorrelation struct {
	Version  int    `json:"v"`
	Key      string `json:"requestKey"`
	ClientID string `json:"clientId"`
	ReplyTo  string `json:"replyTo"`
}

func encodeCorrelation(key, clientID, replyTo string) []byte {
	b, _ := json.Marshal(modernCorrelation{Version: 1, Key: key, ClientID: clientID, ReplyTo: replyTo})
	return b
}

var _ tasks.Resumer = (*Client)(nil)

// Resume waits for the answer of a stateless request that an earlier process
// sent with [Client.RoundTrip] and identified by correlation, without sending
// it again; req is the request as it was sent (the server answers with its
// id). It implements tasks.Resumer, for proxies restarted while an MCP task
// waits on a queue back. The answer must come to this client's response
// queue (or reply topic): a correlation naming another one, as after a
// restart without a fixed response queue, fails at once with an error
// saying so. When ctx is done first, Resume cancels the request at the
// server as RoundTrip does (unless the cause is tasks.ErrClosing) and
// returns ctx.Err().
func (c *Client) Resume(ctx context.Context, correlation []byte, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	var corr modernCorrelation
	if err := json.Unmarshal(correlation, &corr); err != nil {
		return nil, fmt.Errorf("queue client: resume: malformed correlation: %w", err)
	}
	switch {
	case corr.Version != 1 || !wire.ValidRequestKey(corr.Key):
		return nil, fmt.Errorf("queue client: resume: correlation version %d with RequestKey %q not understood", corr.Version, corr.Key)
	case !req.IsCall():
		return nil, errors.New("queue client: resume: the request has no id")
	case corr.ReplyTo != c.cfg.ReplyTo:
		return nil, fmt.Errorf("queue client: cannot re-attach to the call: its answer goes to %s, and this process reads %s (keep the response queue across restarts, e.g. with --response-queue-url)", corr.ReplyTo, c.cfg.ReplyTo)
	}
	p, release, refused := c.register(corr.Key, req, notify)
	if refused != nil {
		return refused, nil
	}
	defer release()
	log := c.log.With("request_key", corr.Key, "id", req.ID.Raw(), "method", req.Method)
	log.Info("re-attached to a stateless request sent before a restart; awaiting its answer")
	return c.await(ctx, p, req, corr.Key, corr.ClientID, log)
}

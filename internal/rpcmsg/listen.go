// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import (
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// ListenComplete is the graceful end of the subscriptions/listen stream
// with request id: a complete result whose _meta names the subscription
// (the listen's id).
func ListenComplete(id jsonrpc.ID) *jsonrpc.Response {
	sub, _ := json.Marshal(id.Raw())
	res, _ := json.Marshal(map[string]any{
		"resultType": "complete",
		"_meta":      map[string]json.RawMessage{MetaSubscriptionID: sub},
	})
	return &jsonrpc.Response{ID: id, Result: res}
}

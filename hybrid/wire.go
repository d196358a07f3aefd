// SPDX-License-Identifier: Apache-2.0

package hybrid

import "encoding/json"

// Header names of the StreamableHTTP+webhook wire format.
const (
	// HeaderWebhookURL on the initialize POST names the client's webhook,
	// as an alternative to initialize params._meta.webhookUrl (which wins
	// when both are given).
	HeaderWebhookURL = "X-Webhook-Url"
	// HeaderWebhookSecret on the initialize response carries the signing
	// secret the server generated for the session. It is absent when the
	// server signs with a configured secret.
	HeaderWebhookSecret = "Asyncmcp-Webhook-Secret"
	// HeaderDelivery is "divert" on the 202 answer to a request whose
	// response will come by webhook.
	HeaderDelivery = "Asyncmcp-Delivery"
	// HeaderSessionID is the Streamable HTTP session header; deliveries
	// carry it so that the receiver can route them.
	HeaderSessionID = "Mcp-Session-Id"
)

// DeliveryDivert is the value of [HeaderDelivery] on a diverted request.
const DeliveryDivert = "divert"

// toolName returns params.name of a tools/call request.
func toolName(params json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
	}
	json.Unmarshal(params, &p)
	return p.Name
}

package hybrid

import (
	"encoding/json"
	"fmt"
)

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

// metaWebhookURL returns params._meta.webhookUrl of an initialize request.
func metaWebhookURL(params json.RawMessage) string {
	var p struct {
		Meta struct {
			WebhookURL string `json:"webhookUrl"`
		} `json:"_meta"`
	}
	json.Unmarshal(params, &p)
	return p.Meta.WebhookURL
}

// withWebhookURL returns params with _meta.webhookUrl set to u, unless it
// already has one. Every other member is kept byte for byte.
func withWebhookURL(params json.RawMessage, u string) (json.RawMessage, error) {
	if metaWebhookURL(params) != "" {
		return params, nil
	}
	obj := map[string]json.RawMessage{}
	if len(params) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &obj); err != nil {
			return nil, fmt.Errorf("initialize params are not a JSON object: %w", err)
		}
	}
	meta := map[string]json.RawMessage{}
	if m, ok := obj["_meta"]; ok && string(m) != "null" {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, fmt.Errorf("initialize params._meta is not a JSON object: %w", err)
		}
	}
	ub, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	meta["webhookUrl"] = ub
	if obj["_meta"], err = json.Marshal(meta); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}

// toolName returns params.name of a tools/call request.
func toolName(params json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
	}
	json.Unmarshal(params, &p)
	return p.Name
}

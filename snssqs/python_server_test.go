// SPDX-License-Identifier: Apache-2.0

package snssqs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/snssqs"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestOwnQueueAdmitsAnswersWithoutClientId: a client whose response queue
// it created itself (subscribed to a shared response topic) receives the
// answers of a server that sends no ClientId, as Python asyncmcp servers
// do; the filter policy used to drop them all.
func TestOwnQueueAdmitsAnswersWithoutClientId(t *testing.T) {
	f := testenv.StartFauxqs(t)
	reqTopic := f.CreateTopic(t, name("req"))
	serverQ := f.CreateQueue(t, name("srv"), nil)
	f.Subscribe(t, reqTopic, serverQ, true, "")
	respTopic := f.CreateTopic(t, name("resp"))
	c := newClient(t, snssqs.ClientConfig{SQS: f.SQS(t), SNS: f.SNS(t), TopicARN: reqTopic, ResponseTopicARN: respTopic})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard
	defer cancel()

	// A Python-like server: answers initialize on the client's topic with
	// SessionId but no ClientId, and ignores everything else.
	go func() {
		for ctx.Err() == nil {
			out, err := f.SQS(t).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(serverQ), WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
			if err != nil {
				return
			}
			for _, m := range out.Messages {
				f.SQS(t).DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(serverQ), ReceiptHandle: m.ReceiptHandle})
				var req struct {
					ID     json.RawMessage `json:"id"`
					Method string          `json:"method"`
					Params struct {
						Meta map[string]string `json:"_meta"`
					} `json:"params"`
				}
				if json.Unmarshal([]byte(aws.ToString(m.Body)), &req) != nil || req.Method != "initialize" {
					continue
				}
				sid := aws.ToString(m.MessageAttributes[wire.AttrSessionID].StringValue)
				body := `{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"python-like","version":"1"}}}`
				f.SNS(t).Publish(ctx, &sns.PublishInput{
					TopicArn: aws.String(req.Params.Meta[wire.MetaClientTopicARN]), Message: aws.String(body),
					MessageAttributes: map[string]snstypes.MessageAttributeValue{
						wire.AttrSessionID:   {DataType: aws.String("String"), StringValue: aws.String(sid)},
						wire.AttrMessageType: {DataType: aws.String("String"), StringValue: aws.String("jsonrpc")},
					},
				})
			}
		}
	}()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "go", Version: "1"}, nil).Connect(ctx, c.Transport(), &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("initialize answered without ClientId did not reach the client: %v", err)
	}
	if got := cs.InitializeResult().ServerInfo.Name; got != "python-like" {
		t.Errorf("server name %q", got)
	}
	cs.Close()
}

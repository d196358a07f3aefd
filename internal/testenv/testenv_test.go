package testenv_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
)

// receiveOne long-polls queueURL until one message arrives and deletes it.
func receiveOne(t *testing.T, c *sqs.Client, queueURL string) (body string, attrs map[string]string) {
	t.Helper()
	ctx := t.Context()
	for {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(queueURL),
			MaxNumberOfMessages:   1,
			WaitTimeSeconds:       5,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatalf("receive from %s: %v", queueURL, err)
		}
		if len(out.Messages) == 0 {
			continue // the test's own deadline bounds this loop
		}
		m := out.Messages[0]
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatalf("delete from %s: %v", queueURL, err)
		}
		attrs = map[string]string{}
		for k, v := range m.MessageAttributes {
			attrs[k] = aws.ToString(v.StringValue)
		}
		return aws.ToString(m.Body), attrs
	}
}

func TestFauxqsSQSRoundTrip(t *testing.T) {
	f := testenv.StartFauxqs(t)
	c := f.SQS(t)
	q := f.CreateQueue(t, "roundtrip", nil)
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)}); err != nil {
		t.Fatalf("send to %s: %v", q, err)
	}
	body, _ := receiveOne(t, c, q)
	if body != `{"jsonrpc":"2.0","id":1,"method":"ping"}` {
		t.Fatalf("received %q", body)
	}
}

func TestFauxqsSNSFanout(t *testing.T) {
	f := testenv.StartFauxqs(t)
	topic := f.CreateTopic(t, "fanout")
	rawQ := f.CreateQueue(t, "raw", nil)
	envQ := f.CreateQueue(t, "envelope", nil)
	f.Subscribe(t, topic, rawQ, true, "")
	f.Subscribe(t, topic, envQ, false, "")

	const msg = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	_, err := f.SNS(t).Publish(t.Context(), &sns.PublishInput{
		TopicArn: aws.String(topic),
		Message:  aws.String(msg),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"session_id": {DataType: aws.String("String"), StringValue: aws.String("s1")},
		},
	})
	if err != nil {
		t.Fatalf("publish to %s: %v", topic, err)
	}
	c := f.SQS(t)
	body, attrs := receiveOne(t, c, rawQ)
	if body != msg || attrs["session_id"] != "s1" {
		t.Errorf("raw delivery: body %q attrs %v", body, attrs)
	}
	body, _ = receiveOne(t, c, envQ)
	var env struct {
		Type              string
		Message           string
		TopicArn          string
		MessageAttributes map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("envelope delivery: %v in %q", err, body)
	}
	if env.Type != "Notification" || env.Message != msg || env.TopicArn != topic || env.MessageAttributes["session_id"].Value != "s1" {
		t.Errorf("envelope delivery: %+v", env)
	}
}


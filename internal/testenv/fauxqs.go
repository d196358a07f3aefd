// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fauxqsReadyTimeout bounds how long StartFauxqs waits for the emulator.
const fauxqsReadyTimeout = 60 * time.Second

// fauxqsCallTimeout bounds each AWS call made by the Fauxqs helpers.
const fauxqsCallTimeout = 30 * time.Second

// A Fauxqs is a running fauxqs SQS/SNS emulator started by [StartFauxqs].
// Queue URLs it returns have the form http://127.0.0.1:PORT/000000000000/NAME.
// See FAUXQS.md for what the emulator does and does not implement.
type Fauxqs struct {
	// Endpoint is the emulator's base URL, like http://127.0.0.1:PORT.
	Endpoint string
	// Region is the AWS region used in ARNs and queue URLs.
	Region string
	// Process is the emulator process.
	Process *Process
}

// StartFauxqs starts fauxqs on a free 127.0.0.1 port (the kernel picks it,
// so there is no race), waits until it reports readiness, and registers a
// t.Cleanup that stops it. Each call gets a fresh, empty emulator.
func StartFauxqs(t testing.TB) *Fauxqs {
	t.Helper()
	dir := NodeDir(t)
	cmd := exec.Command(Node(t), filepath.Join(dir, "fauxqs-launch.mjs"))
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "FAUXQS_PORT=0", "FAUXQS_DEFAULT_REGION=us-east-1")
	type ready struct {
		Port   int    `json:"port"`
		Region string `json:"region"`
	}
	readyc := make(chan ready, 1)
	p := StartProcess(t, cmd, func(line string) {
		rest, ok := strings.CutPrefix(line, "FAUXQS_READY ")
		if !ok {
			return
		}
		var r ready
		if err := json.Unmarshal([]byte(rest), &r); err == nil && r.Port > 0 {
			select {
			case readyc <- r:
			default:
			}
		}
	})
	select {
	case r := <-readyc:
		return &Fauxqs{
			Endpoint: "http://127.0.0.1:" + strconv.Itoa(r.Port),
			Region:   r.Region,
			Process:  p,
		}
	case <-p.Exited():
		t.Fatalf("testenv: fauxqs exited before it was ready (%v):\n%s", p.Err(), p.Log())
	case <-time.After(fauxqsReadyTimeout):
		t.Fatalf("testenv: fauxqs not ready after %v:\n%s", fauxqsReadyTimeout, p.Log())
	}
	return nil
}

// AWSConfig returns an aws-sdk-go-v2 config that talks to the emulator:
// static credentials test/test, the emulator's region and BaseEndpoint set
// to its Endpoint. It does not read the environment or shared AWS files.
func (f *Fauxqs) AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	return aws.Config{
		Region:       f.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(f.Endpoint),
	}
}

// Env returns environment variables that point AWS SDKs and CLIs in a child
// process at the emulator, with static credentials test/test.
func (f *Fauxqs) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + f.Endpoint,
		"AWS_REGION=" + f.Region,
		"AWS_DEFAULT_REGION=" + f.Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SQS returns an SQS client for the emulator.
func (f *Fauxqs) SQS(t testing.TB) *sqs.Client {
	t.Helper()
	return sqs.NewFromConfig(f.AWSConfig(t))
}

// SNS returns an SNS client for the emulator.
func (f *Fauxqs) SNS(t testing.TB) *sns.Client {
	t.Helper()
	return sns.NewFromConfig(f.AWSConfig(t))
}

// CreateQueue creates an SQS queue with the given attributes (may be nil)
// and returns its URL. A name ending in ".fifo" creates a FIFO queue.
func (f *Fauxqs) CreateQueue(t testing.TB, name string, attrs map[string]string) string {
	t.Helper()
	a := make(map[string]string, len(attrs)+1)
	for k, v := range attrs {
		a[k] = v
	}
	if strings.HasSuffix(name, ".fifo") {
		if _, ok := a["FifoQueue"]; !ok {
			a["FifoQueue"] = "true"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fauxqsCallTimeout)
	defer cancel()
	out, err := f.SQS(t).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: a})
	if err != nil {
		t.Fatalf("testenv: create SQS queue %q with attributes %v: %v", name, a, err)
	}
	return aws.ToString(out.QueueUrl)
}

// QueueARN returns the ARN of the queue at queueURL.
func (f *Fauxqs) QueueARN(t testing.TB, queueURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fauxqsCallTimeout)
	defer cancel()
	out, err := f.SQS(t).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("testenv: get ARN of SQS queue %s: %v", queueURL, err)
	}
	arn := out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if arn == "" {
		t.Fatalf("testenv: SQS queue %s has no QueueArn attribute", queueURL)
	}
	return arn
}

// CreateTopic creates an SNS topic and returns its ARN. A name ending in
// ".fifo" creates a FIFO topic.
func (f *Fauxqs) CreateTopic(t testing.TB, name string) string {
	t.Helper()
	var attrs map[string]string
	if strings.HasSuffix(name, ".fifo") {
		attrs = map[string]string{"FifoTopic": "true"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fauxqsCallTimeout)
	defer cancel()
	out, err := f.SNS(t).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("testenv: create SNS topic %q: %v", name, err)
	}
	return aws.ToString(out.TopicArn)
}

// Subscribe subscribes the SQS queue at queueURL to the SNS topic topicARN.
// raw sets RawMessageDelivery (the queue receives the bare message instead of
// the SNS JSON envelope); a non-empty filterPolicy is set as the
// subscription's FilterPolicy (on message attributes).
func (f *Fauxqs) Subscribe(t testing.TB, topicARN, queueURL string, raw bool, filterPolicy string) {
	t.Helper()
	attrs := map[string]string{"RawMessageDelivery": strconv.FormatBool(raw)}
	if filterPolicy != "" {
		attrs["FilterPolicy"] = filterPolicy
	}
	queueARN := f.QueueARN(t, queueURL)
	ctx, cancel := context.WithTimeout(context.Background(), fauxqsCallTimeout)
	defer cancel()
	_, err := f.SNS(t).Subscribe(ctx, &sns.SubscribeInput{
		TopicArn:              aws.String(topicARN),
		Protocol:              aws.String("sqs"),
		Endpoint:              aws.String(queueARN),
		Attributes:            attrs,
		ReturnSubscriptionArn: true,
	})
	if err != nil {
		t.Fatalf("testenv: subscribe SQS queue %s to SNS topic %s (attributes %v): %v", queueARN, topicARN, attrs, err)
	}
}

// String returns the endpoint, for logs.
func (f *Fauxqs) String() string { return fmt.Sprintf("fauxqs(%s, %s)", f.Endpoint, f.Region) }

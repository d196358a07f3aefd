// SPDX-License-Identifier: Apache-2.0

package testenv_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/modelcontextprotocol/go-sdk/mcp"

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

func TestGoEverythingServerStdio(t *testing.T) {
	bin := testenv.GoEverythingServer(t)
	if again := testenv.GoEverythingServer(t); again != bin {
		t.Errorf("second call returned %q, first %q", again, bin)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "testenv-test", Version: "0"}, nil)
	cs, err := client.Connect(t.Context(), &mcp.CommandTransport{Command: exec.Command(bin)},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect to %s over stdio: %v", bin, err)
	}
	defer cs.Close()
	if got := cs.InitializeResult().ProtocolVersion; got != "2025-11-25" {
		t.Errorf("negotiated protocol version %q", got)
	}
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	if len(res.Tools) == 0 {
		t.Fatal("tools/list returned no tools")
	}
	names := make(map[string]bool)
	for _, tool := range res.Tools {
		names[tool.Name] = true
	}
	if !names["test_simple_text"] {
		t.Errorf("tools/list lacks test_simple_text; got %d tools", len(res.Tools))
	}
}

func TestGoEverythingClientBuilds(t *testing.T) {
	bin := testenv.GoEverythingClient(t)
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("everything-client at %s: %v (mode %v)", bin, err, fi)
	}
}

func TestNode22AndConformanceCLI(t *testing.T) {
	node := testenv.Node(t)
	out, err := exec.Command(node, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "v22.") {
		t.Fatalf("%s --version: %q, %v", node, out, err)
	}
	cli := testenv.ConformanceCLI(t)
	out, err = exec.Command(node, cli, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "0.1.16" {
		t.Fatalf("conformance --version: %q, %v", out, err)
	}
	out, err = exec.Command(node, cli, "list", "--server").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "server-initialize") {
		t.Fatalf("conformance list --server: %v\n%s", err, out)
	}
	for _, pkg := range []string{"fauxqs", "@modelcontextprotocol/sdk", "@modelcontextprotocol/server-everything"} {
		if _, err := os.Stat(filepath.Join(testenv.NodeDir(t), "node_modules", pkg, "package.json")); err != nil {
			t.Errorf("package %s not installed: %v", pkg, err)
		}
	}
}

// TestRunConformanceServer runs one conformance scenario against the Go
// everything-server over streamable HTTP.
func TestRunConformanceServer(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	p := testenv.StartProcess(t, exec.Command(testenv.GoEverythingServer(t), "-http="+addr, "-stateless=false"), nil)
	testenv.WaitTCP(t, addr, p)
	out, err := testenv.RunConformanceServer(t, "http://"+addr, "--scenario", "server-initialize")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "server-initialize") {
		t.Errorf("output does not mention the scenario:\n%s", out)
	}
}

func TestBuildAsyncmcp(t *testing.T) {
	if _, err := os.Stat(filepath.Join(testenv.RepoRoot(t), "cmd", "asyncmcp")); err != nil {
		t.Skipf("cmd/asyncmcp not present: %v", err)
	}
	bin := testenv.BuildAsyncmcp(t)
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}

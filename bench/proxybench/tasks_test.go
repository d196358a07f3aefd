// SPDX-License-Identifier: Apache-2.0

package proxybench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/tasks"
)

// BenchmarkProxyTasks measures MCP Tasks (issue 10) through the real
// `asyncmcp proxy --tasks slow_compute --task-grace 0 -- <tasks fixture
// -stdio>`, with raw 2026-07-28 POSTs from one client, one request at a
// time: each iteration is a tools/call of slow_compute (0 s of work) that
// the proxy turns into a task at once (the task is written to the store,
// with fsync, before the CreateTaskResult is sent), then a tasks/get of that
// task. It prints the p50/p99 latency of both, seen by the HTTP client, and
// how the state directory's tasks.db grew per task: the file (bbolt grows it
// in steps, so this is coarse) and the encoded task records (the store's
// own count, read after the proxy stopped). Nothing is asserted but that
// every call answers as the protocol says.
func BenchmarkProxyTasks(b *testing.B) {
	bin := buildAll(b)
	fixture := testenv.BuildPackage(b, "./tasks/testdata/fixture")
	stateDir := b.TempDir()
	urlc := make(chan string, 1)
	p := testenv.StartProcess(b, exec.Command(bin.asyncmcp, "proxy", "--port", "0", "--log-level", "warn",
		"--tasks", "slow_compute", "--task-grace", "0", "--task-ttl", "1h", "--state-dir", stateDir,
		"--max-tasks", "10000000", "--max-task-bytes", "8589934592", "--", fixture, "-stdio"),
		func(line string) {
			if rest, ok := strings.CutPrefix(line, "asyncmcp: listening on "); ok {
				select {
				case urlc <- strings.TrimSpace(rest) + "/mcp":
				default:
				}
			}
		})
	var endpoint string
	select {
	case endpoint = <-urlc:
	case <-p.Exited():
		b.Fatalf("proxy exited before printing its URL (%v):\n%s", p.Err(), p.Log())
	case <-time.After(readyTimeout):
		b.Fatalf("proxy printed no URL within %v:\n%s", readyTimeout, p.Log())
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	b.Cleanup(tr.CloseIdleConnections)
	c := &taskClient{hc: &http.Client{Transport: tr, Timeout: time.Minute}, endpoint: endpoint}
	ctx := b.Context()

	for range warmupCalls {
		id, err := c.create(ctx)
		if err == nil {
			_, err = c.get(ctx, id)
		}
		if err != nil {
			b.Fatalf("warm-up: %v\nproxy log:\n%s", err, p.Log())
		}
	}
	dbPath := filepath.Join(stateDir, tasks.StoreFile)
	fi0, err := os.Stat(dbPath)
	if err != nil {
		b.Fatalf("state dir: %v", err)
	}

	var create, get []time.Duration
	statuses := map[string]int{}
	for b.Loop() {
		t0 := time.Now()
		id, err := c.create(ctx)
		t1 := time.Now()
		if err != nil {
			b.Fatalf("tools/call: %v", err)
		}
		status, err := c.get(ctx, id)
		t2 := time.Now()
		if err != nil {
			b.Fatalf("tasks/get %s: %v", id, err)
		}
		create = append(create, t1.Sub(t0))
		get = append(get, t2.Sub(t1))
		statuses[status]++
	}
	b.StopTimer()
	// The store is opened by one process at a time: read it once the proxy
	// is gone (and has written what it had to).
	p.Stop()
	fi1, err := os.Stat(dbPath)
	if err != nil {
		b.Fatalf("state dir: %v", err)
	}
	store, err := tasks.OpenStore(tasks.StoreOptions{Dir: stateDir, MaxTasks: 10_000_000, MaxBytes: 8 << 30})
	if err != nil {
		b.Fatalf("opening the proxy's store: %v", err)
	}
	n, recordBytes, err := store.Stats()
	store.Close()
	if err != nil {
		b.Fatalf("store stats: %v", err)
	}
	if want := len(create) + warmupCalls; n != want {
		b.Fatalf("the store holds %d tasks, want %d (every call made one)", n, want)
	}

	slices.Sort(create)
	slices.Sort(get)
	fileGrowth := float64(fi1.Size()-fi0.Size()) / float64(len(create))
	perRecord := float64(recordBytes) / float64(n)
	b.ReportMetric(ms(percentile(create, 0.50)), "create-p50-ms")
	b.ReportMetric(ms(percentile(create, 0.99)), "create-p99-ms")
	b.ReportMetric(ms(percentile(get, 0.50)), "get-p50-ms")
	b.ReportMetric(ms(percentile(get, 0.99)), "get-p99-ms")
	b.ReportMetric(fileGrowth, "file-B/task")
	b.ReportMetric(perRecord, "record-B/task")
	b.ReportMetric(0, "ns/op")

	w := os.Stdout
	fmt.Fprintf(w, "\nMCP Tasks through asyncmcp proxy (%s, raw POSTs, one at a time), %d tasks after %d warm-up\n",
		rpcmsg.ModernVersion, len(create), warmupCalls)
	fmt.Fprintf(w, "%-28s %9s %9s %9s\n", "request", "p50 ms", "p99 ms", "max ms")
	fmt.Fprintf(w, "%-28s %9.3f %9.3f %9.3f\n", "tools/call -> CreateTask", ms(percentile(create, 0.50)), ms(percentile(create, 0.99)), ms(create[len(create)-1]))
	fmt.Fprintf(w, "%-28s %9.3f %9.3f %9.3f\n", "tasks/get", ms(percentile(get, 0.50)), ms(percentile(get, 0.99)), ms(get[len(get)-1]))
	fmt.Fprintf(w, "tasks/get saw: %v\n", statuses)
	fmt.Fprintf(w, "tasks.db: %d -> %d bytes over %d tasks = %.0f B/task of file; task records %d B for %d tasks = %.0f B/task\n\n",
		fi0.Size(), fi1.Size(), len(create), fileGrowth, recordBytes, n, perRecord)
}

// taskClient sends 2026-07-28 requests declaring the Tasks extension.
type taskClient struct {
	hc       *http.Client
	endpoint string
	seq      atomic.Int64
}

var taskMeta = map[string]any{
	rpcmsg.MetaProtocolVersion:    rpcmsg.ModernVersion,
	rpcmsg.MetaClientCapabilities: map[string]any{"extensions": map[string]any{tasks.ExtensionID: map[string]any{}}},
	rpcmsg.MetaClientInfo:         map[string]any{"name": "proxybench-tasks", "version": "0"},
}

// create calls slow_compute and returns the id of the task it became.
func (c *taskClient) create(ctx context.Context) (string, error) {
	res, err := c.post(ctx, "tools/call", "slow_compute", map[string]any{
		"name": "slow_compute", "arguments": map[string]any{"seconds": 0, "label": "bench"}})
	if err != nil {
		return "", err
	}
	var r struct {
		ResultType string `json:"resultType"`
		TaskID     string `json:"taskId"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.ResultType != "task" || r.TaskID == "" {
		return "", fmt.Errorf("tools/call answered %s, not a task (%v)", res, err)
	}
	return r.TaskID, nil
}

// get returns the status of task id.
func (c *taskClient) get(ctx context.Context, id string) (string, error) {
	res, err := c.post(ctx, tasks.MethodGet, id, map[string]any{"taskId": id})
	if err != nil {
		return "", err
	}
	var r struct {
		TaskID string `json:"taskId"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.TaskID != id || r.Status == "" {
		return "", fmt.Errorf("tasks/get answered %s (%v)", res, err)
	}
	return r.Status, nil
}

// post sends one request with the Streamable HTTP headers of the binding
// (Mcp-Name: name) and returns its result; a JSON-RPC error is an error.
func (c *taskClient) post(ctx context.Context, method, name string, params map[string]any) (json.RawMessage, error) {
	params["_meta"] = taskMeta
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.seq.Add(1), "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", rpcmsg.ModernVersion)
	req.Header.Set("Mcp-Method", method)
	req.Header.Set("Mcp-Name", rpcmsg.EncodeHeaderValue(name))
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", method, err)
	}
	data = testenv.LastEventData(resp.Header.Get("Content-Type"), data)
	var m struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int64  `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d, body %q: %w", method, resp.StatusCode, data, err)
	}
	if m.Error != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d, error %+v, body %s", method, resp.StatusCode, m.Error, data)
	}
	return m.Result, nil
}

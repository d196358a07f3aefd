// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func newRecord(owner string, params string, ttl time.Duration) *Record {
	now := time.Now().UTC()
	return &Record{ID: NewID(), Owner: owner, Status: StatusWorking, CreatedAt: now, LastUpdatedAt: now,
		TTLMs: ttl.Milliseconds(), Method: "tools/call", Params: json.RawMessage(params), BackID: newBackID()}
}

func TestStoreLimits(t *testing.T) {
	s := openTestStore(t, t.TempDir(), StoreOptions{MaxTasks: 2, MaxBytes: 2000})
	pad := strings.Repeat("x", 600)
	a := newRecord("o", `{"name":"a","arguments":{"pad":"`+pad+`"}}`, time.Hour)
	if err := s.Create(a); err != nil {
		t.Fatal(err)
	}
	// Growing a record past MaxBytes fails and stores nothing.
	err := s.Update(a.ID, "o", func(r *Record) error {
		r.Result = json.RawMessage(`{"text":"` + strings.Repeat("y", 2000) + `"}`)
		r.Status = StatusCompleted
		return nil
	})
	if !errors.Is(err, ErrStoreFull) {
		t.Fatalf("oversized update: %v, want ErrStoreFull", err)
	}
	if got, _ := s.Get(a.ID, "o"); got.Status != StatusWorking || got.Result != nil {
		t.Fatalf("failed update changed the record: %+v", got)
	}
	// A second record that passes the byte limit fails.
	big := newRecord("o", `{"name":"b","arguments":{"pad":"`+strings.Repeat("z", 1500)+`"}}`, time.Hour)
	if err := s.Create(big); !errors.Is(err, ErrStoreFull) || !strings.Contains(err.Error(), "2000 bytes") {
		t.Fatalf("create past MaxBytes: %v", err)
	}
	if err := s.Create(newRecord("o", `{"name":"c"}`, time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The third task passes MaxTasks.
	if err := s.Create(newRecord("o", `{"name":"d"}`, time.Hour)); !errors.Is(err, ErrStoreFull) || !strings.Contains(err.Error(), "2 tasks") {
		t.Fatalf("create past MaxTasks: %v", err)
	}
	// Deleting frees room.
	if err := s.Delete(a.ID, "o"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(newRecord("o", `{"name":"e"}`, time.Hour)); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	if n, size, _ := s.Stats(); n != 2 || size <= 0 || size > 2000 {
		t.Errorf("stats %d tasks %d bytes", n, size)
	}
}

func TestStoreExpiryAndSweep(t *testing.T) {
	s := openTestStore(t, t.TempDir(), StoreOptions{})
	short := newRecord("o", `{"name":"a"}`, time.Minute)
	long := newRecord("o", `{"name":"b"}`, time.Hour)
	for _, r := range []*Record{short, long} {
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	s.skew.Store(int64(2 * time.Minute))
	if _, err := s.Get(short.ID, "o"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired task: %v", err)
	}
	if _, err := s.Get(short.ID, "other"); err == nil || err.Error() != ErrNotFound.Error() {
		t.Fatalf("expired task of another owner: %v, want plain not found", err)
	}
	if n, err := s.Sweep(); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if _, err := s.Get(short.ID, "o"); err == nil || err.Error() != ErrNotFound.Error() {
		t.Fatalf("swept task: %v", err)
	}
	if _, err := s.Get(long.ID, "o"); err != nil {
		t.Fatalf("unexpired task: %v", err)
	}
	if n, _, _ := s.Stats(); n != 1 {
		t.Errorf("%d tasks after sweep, want 1", n)
	}
}

func TestDefaultStateDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/tmp/xdg")
	if d, err := DefaultStateDir(); err != nil || d != "/var/tmp/xdg/asyncmcp" {
		t.Errorf("with XDG_STATE_HOME: %q %v", d, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, err := DefaultStateDir(); err != nil || d != "/home/u/.local/state/asyncmcp" {
		t.Errorf("without XDG_STATE_HOME: %q %v", d, err)
	}
}

func TestStoreLockedByOneProcess(t *testing.T) {
	dir := t.TempDir()
	openTestStore(t, dir, StoreOptions{})
	start := time.Now()
	if _, err := OpenStore(StoreOptions{Dir: dir}); err == nil {
		t.Fatal("a second OpenStore on a held store succeeded")
	}
	t.Logf("second open failed after %v", time.Since(start))
}

// A cancelled task never reports a result that arrives after the cancel.
func TestCancelledTaskIgnoresLateResult(t *testing.T) {
	e := newEngine(t, startGoEverything(t), Options{})
	rec := newRecord("o", `{"name":"x"}`, time.Hour)
	if err := e.store.Create(rec); err != nil {
		t.Fatal(err)
	}
	if err := e.cancel(rec.ID, "o"); err != nil {
		t.Fatal(err)
	}
	r := &run{id: rec.ID, owner: "o", published: true}
	e.finish(r, &jsonrpc.Response{Result: json.RawMessage(`{"resultType":"complete","content":[{"type":"text","text":"late"}]}`)}, nil, nil)
	got, err := e.store.Get(rec.ID, "o")
	if err != nil || got.Status != StatusCancelled || got.Result != nil {
		t.Fatalf("cancelled task after a late result: %+v %v", got, err)
	}
}

// A result too large for the store fails the task instead of vanishing.
func TestResultTooLargeFailsTask(t *testing.T) {
	store := openTestStore(t, t.TempDir(), StoreOptions{MaxBytes: 4096})
	e := newEngine(t, startGoEverything(t), Options{Store: store})
	rec := newRecord("o", `{"name":"x"}`, time.Hour)
	if err := store.Create(rec); err != nil {
		t.Fatal(err)
	}
	huge := `{"resultType":"complete","content":[{"type":"text","text":"` + strings.Repeat("a", 8000) + `"}]}`
	e.finish(&run{id: rec.ID, owner: "o", published: true}, &jsonrpc.Response{Result: json.RawMessage(huge)}, nil, nil)
	got, err := store.Get(rec.ID, "o")
	if err != nil || got.Status != StatusFailed || !strings.Contains(got.StatusMessage, "does not fit") || got.Error == nil {
		t.Fatalf("task with an oversized result: %+v %v", got, err)
	}
}

func TestTTLExpiryThroughEngine(t *testing.T) {
	t.Run("finished task", func(t *testing.T) {
		e := newEngine(t, startGoEverything(t), Options{TTL: time.Minute})
		c := &tclient{t: t, rt: e, owner: "o"}
		id := c.callTool("test_simple_text", map[string]any{})["taskId"].(string)
		c.waitStatus(id, StatusCompleted)
		e.store.skew.Store(int64(61 * time.Second))
		code, msg := rpcCode(t, c.do(MethodGet, map[string]any{"taskId": id}))
		if code != jsonrpc.CodeInvalidParams || !strings.Contains(msg, "expired") {
			t.Errorf("expired task: %d %q", code, msg)
		}
		if n, err := e.store.Sweep(); n != 1 || err != nil {
			t.Fatalf("sweep: %d %v", n, err)
		}
		code, msg = rpcCode(t, c.do(MethodGet, map[string]any{"taskId": id}))
		if code != jsonrpc.CodeInvalidParams || msg != "Failed to retrieve task: task not found" {
			t.Errorf("swept task: %d %q", code, msg)
		}
	})
	t.Run("running call is cancelled at the TTL", func(t *testing.T) {
		back := startServerEverything(t)
		e := newEngine(t, back, Options{TTL: 300 * time.Millisecond})
		c := &tclient{t: t, rt: e, owner: "o"}
		c.callTool("trigger-long-running-operation", map[string]any{"duration": 600, "steps": 1})
		waitIdle(t, e)
		if !back.cancelledFor("trigger-long-running-operation") {
			t.Error("the back call outlived the task's TTL")
		}
	})
}

func TestTenThousandTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 tasks")
	}
	const n = 10_000
	dir := t.TempDir()
	store := openTestStore(t, dir, StoreOptions{MaxTasks: n, MaxBytes: 32 << 20})
	e := newEngine(t, startGoEverything(t), Options{Store: store})
	c := &tclient{t: t, rt: e, owner: "o"}
	batch := func() []string {
		ids := make([]string, n)
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					res := c.callTool("test_simple_text", map[string]any{})
					ids[i], _ = res["taskId"].(string)
				}
			}()
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
		waitIdle(t, e)
		return ids
	}
	start := time.Now()
	ids := batch()
	t.Logf("created and finished %d tasks in %v", n, time.Since(start))
	for _, i := range []int{0, n / 2, n - 1} {
		if got := c.get(ids[i]); got["status"] != "completed" {
			t.Fatalf("task %d: %v", i, got)
		}
	}
	count, size, _ := store.Stats()
	fi, _ := os.Stat(filepath.Join(dir, StoreFile))
	t.Logf("store: %d tasks, %d bytes of records (%d per task), file %d bytes", count, size, size/int64(count), fi.Size())
	if count != n || size > 32<<20 {
		t.Fatalf("store holds %d tasks, %d bytes", count, size)
	}
	// The next one is refused with a clear error.
	resp := c.do("tools/call", map[string]any{"name": "test_simple_text", "arguments": map[string]any{}})
	if code, msg := rpcCode(t, resp); code != jsonrpc.CodeInternalError || !strings.Contains(msg, "task store full") {
		t.Fatalf("task past the limit: %d %q", code, msg)
	}
	// After expiry the room is reused and the file does not keep growing.
	store.skew.Store(int64(2 * DefaultTTL))
	if swept, err := store.Sweep(); swept != n || err != nil {
		t.Fatalf("sweep: %d %v", swept, err)
	}
	store.skew.Store(0)
	batch()
	fi2, _ := os.Stat(filepath.Join(dir, StoreFile))
	t.Logf("file after a second batch of %d: %d bytes", n, fi2.Size())
	if fi2.Size() > fi.Size()*3/2 {
		t.Errorf("file grew from %d to %d bytes for the same number of live tasks", fi.Size(), fi2.Size())
	}
}

func TestStorePerOwnerLimit(t *testing.T) {
	s := openTestStore(t, t.TempDir(), StoreOptions{MaxTasksPerOwner: 2})
	var mine []*Record
	for range 2 {
		r := newRecord("", `{"name":"a"}`, time.Minute)
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
		mine = append(mine, r)
	}
	if err := s.Create(newRecord("", `{"name":"a"}`, time.Minute)); !errors.Is(err, ErrStoreFull) || !strings.Contains(err.Error(), "per-caller") {
		t.Fatalf("third task of one owner: %v", err)
	}
	if err := s.Create(newRecord("other", `{"name":"a"}`, time.Minute)); err != nil {
		t.Fatalf("another owner is refused: %v", err)
	}
	if err := s.Delete(mine[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(newRecord("", `{"name":"a"}`, time.Minute)); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	s.skew.Store(int64(time.Hour))
	if n, err := s.Sweep(); n != 3 || err != nil {
		t.Fatalf("sweep: %d %v", n, err)
	}
	for range 2 {
		if err := s.Create(newRecord("", `{"name":"a"}`, time.Hour)); err != nil {
			t.Fatalf("after the sweep: %v", err)
		}
	}
}

// List pages through one owner's live tasks, in id order, and only theirs.
func TestStoreList(t *testing.T) {
	s := openTestStore(t, t.TempDir(), StoreOptions{})
	want := map[string]bool{}
	for range 5 {
		r := newRecord("o", `{}`, time.Hour)
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
		want[r.ID] = true
	}
	for _, r := range []*Record{newRecord("p", `{}`, time.Hour), newRecord("o", `{}`, time.Millisecond)} {
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	s.skew.Store(int64(time.Second)) // the short one has expired
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		recs, next, err := s.List("o", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 2 || pages > 5 {
			t.Fatalf("page of %d tasks, or too many pages", len(recs))
		}
		for _, r := range recs {
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d tasks, want %d: %v", len(got), len(want), got)
	}
	for i, id := range got {
		if !want[id] || (i > 0 && got[i-1] >= id) {
			t.Errorf("listed %v: not the owner's live tasks in id order", got)
			break
		}
	}
}

package supervise

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/sandbox"
	"github.com/containerd/errdefs"
)

func TestAnchorOneLeadsTheOthersJoin(t *testing.T) {
	var a anchor
	ctx := context.Background()
	if id, lead := a.join(ctx); id != "" || !lead {
		t.Fatalf("first join: %q, lead %v; want no task and the lead", id, lead)
	}
	got := make(chan string, 2)
	for i := 0; i < 2; i++ {
		go func() {
			id, lead := a.join(ctx)
			if lead {
				id = "lead"
			}
			got <- id
		}()
	}
	select {
	case id := <-got:
		t.Fatalf("a join returned %q while the lead's task was being created", id)
	case <-time.After(50 * time.Millisecond):
	}
	a.led("udev", true)
	for i := 0; i < 2; i++ {
		if id := <-got; id != "udev" {
			t.Errorf("join after the lead: %q, want udev", id)
		}
	}
}

func TestAnchorFailedLeadPassesTheLead(t *testing.T) {
	var a anchor
	ctx := context.Background()
	a.join(ctx)
	got := make(chan bool, 1)
	go func() {
		id, lead := a.join(ctx)
		got <- lead && id == ""
	}()
	a.led("udev", false)
	if !<-got {
		t.Fatal("after a failed lead, the waiting join did not lead")
	}
	a.led("network", true)
	if id, lead := a.join(ctx); id != "network" || lead {
		t.Fatalf("join: %q, lead %v; want network", id, lead)
	}
}

func TestAnchorDrop(t *testing.T) {
	var a anchor
	ctx := context.Background()
	a.join(ctx)
	a.led("udev", true)
	a.drop("network")
	if id, _ := a.join(ctx); id != "udev" {
		t.Fatalf("after dropping another task: %q, want udev", id)
	}
	a.drop("udev")
	if id, lead := a.join(ctx); id != "" || !lead {
		t.Fatalf("after dropping udev: %q, lead %v; want a new lead", id, lead)
	}
}

func TestAnchorJoinEndsWithItsContext(t *testing.T) {
	var a anchor
	a.join(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if id, lead := a.join(ctx); id != "" || lead {
		t.Fatalf("join with an ended context: %q, lead %v", id, lead)
	}
}

// fakeSandboxes is a sandbox store that counts what is asked of it.
type fakeSandboxes struct {
	sandbox.Store
	mu              sync.Mutex
	have            map[string]bool
	creates, delete int
	err             error
}

func (f *fakeSandboxes) Create(_ context.Context, s sandbox.Sandbox) (sandbox.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if f.err != nil {
		return sandbox.Sandbox{}, f.err
	}
	if f.have[s.ID] {
		return sandbox.Sandbox{}, errdefs.ErrAlreadyExists
	}
	f.have[s.ID] = true
	return s, nil
}

func (f *fakeSandboxes) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delete++
	delete(f.have, id)
	return nil
}

func TestAnchorRecordLivesWhileUsed(t *testing.T) {
	var a anchor
	ctx := context.Background()
	f := &fakeSandboxes{have: map[string]bool{}}
	r1, err := a.record(ctx, f, "udev")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.record(ctx, f, "udev")
	if err != nil {
		t.Fatal(err)
	}
	if f.creates != 1 || !f.have["udev"] {
		t.Fatalf("two creations joining udev: %d records made, have %v; want one", f.creates, f.have)
	}
	r1()
	if !f.have["udev"] || f.delete != 0 {
		t.Fatal("the record went while a creation still used it")
	}
	r2()
	if f.have["udev"] || f.delete != 1 {
		t.Fatalf("after the last creation: have %v, %d deletes; want the record gone", f.have, f.delete)
	}
	// One left from an earlier boot is used as it is.
	f.have["udev"] = true
	r3, err := a.record(ctx, f, "udev")
	if err != nil {
		t.Fatalf("a record that exists: %v", err)
	}
	r3()
}

func TestAnchorRecordError(t *testing.T) {
	var a anchor
	f := &fakeSandboxes{have: map[string]bool{}, err: errors.New("store down")}
	if _, err := a.record(context.Background(), f, "udev"); err == nil || !strings.Contains(err.Error(), "store down") {
		t.Fatalf("record with a failing store: %v, want its error", err)
	}
	if len(a.records) != 0 {
		t.Fatalf("a failed record is counted: %v", a.records)
	}
}

package supervise

import (
	"context"
	"fmt"
	"sync"

	"github.com/containerd/containerd/v2/core/sandbox"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/errdefs"
)

// anchor is the task whose shim the services' next tasks join, so that
// containerd runs the shim's start command once, not once per service:
// under emulation each run costs about 0.15 s of processor time.
//
// containerd (2.x, shim protocol 3) connects a container whose sandbox ID
// names a live task, and is in its sandbox store, to that task's shim;
// Kubernetes' pods join their pause container's shim that way. The
// services have no sandbox of their own: the record exists only while a
// task that joins is being created.
type anchor struct {
	mu      sync.Mutex
	id      string        // the task joined; "" when there is none
	pending chan struct{} // closed when the task being made the anchor is created or failed

	recMu   sync.Mutex
	records map[string]int // sandbox records made, by task, and how many creations use each
}

// join returns the task to join. With none, the first caller leads (lead
// true): it starts a shim, and must call led. The others wait for it,
// then join its task, or lead in turn when its creation failed.
func (a *anchor) join(ctx context.Context) (id string, lead bool) {
	for {
		a.mu.Lock()
		if a.id != "" {
			id := a.id
			a.mu.Unlock()
			return id, false
		}
		if a.pending == nil {
			a.pending = make(chan struct{})
			a.mu.Unlock()
			return "", true
		}
		p := a.pending
		a.mu.Unlock()
		select {
		case <-p:
		case <-ctx.Done():
			return "", false
		}
	}
}

// led ends a lead: the task id, when created, is the one to join.
func (a *anchor) led(id string, created bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if created {
		a.id = id
	}
	close(a.pending)
	a.pending = nil
}

// drop forgets the task id as the one to join: it was deleted.
func (a *anchor) drop(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.id == id {
		a.id = ""
	}
}

// record makes the sandbox record that lets a creation join the task id,
// and returns the function that removes it once no creation uses it.
func (a *anchor) record(ctx context.Context, store sandbox.Store, id string) (release func(), err error) {
	a.recMu.Lock()
	defer a.recMu.Unlock()
	if a.records[id] == 0 {
		_, err := store.Create(ctx, sandbox.Sandbox{ID: id, Runtime: sandbox.RuntimeOpts{Name: plugins.RuntimeRuncV2}})
		if err != nil && !errdefs.IsAlreadyExists(err) {
			return nil, fmt.Errorf("sandbox record: %w", err)
		}
	}
	if a.records == nil {
		a.records = map[string]int{}
	}
	a.records[id]++
	return func() {
		a.recMu.Lock()
		defer a.recMu.Unlock()
		if a.records[id]--; a.records[id] == 0 {
			delete(a.records, id)
			store.Delete(context.WithoutCancel(ctx), id)
		}
	}, nil
}

package main

import (
	"context"
	"time"

	"github.com/berth-os/berth/internal/hypervisor"
)

// The guest agent of the hypervisor the host runs on (qemu-guest-agent
// on KVM, open-vm-tools on VMware, hyperv-daemons on Hyper-V) starts with
// the image's services when its image is in the system containerd's store,
// preloaded or pulled, as RancherOS's hypervisor_service did. cloud-config
// turns it off with berth.hypervisor_service: false, and
// berth.services.disable wins over it.

// hypervisor is the kind of hypervisor this host runs on, read from sysfs
// once ("" on bare metal).
func (h *host) hypervisor() string {
	h.hvOnce.Do(func() {
		root := h.sysRoot
		if root == "" {
			root = "/"
		}
		h.hvKind = hypervisor.Detect(root)
	})
	return h.hvKind
}

// hypervisorService is berth.hypervisor_service, true unless cloud-config
// says false. The caller holds configMu.
func (h *host) hypervisorService() bool {
	if h.cfg == nil || h.cfg.merged == nil {
		return true
	}
	v := h.cfg.merged.Config.Berth.HypervisorService
	return v == nil || *v
}

// guestAgents is the hypervisor's guest agent when it is to start: the
// catalogue has it, its image is in the store and berth.hypervisor_service
// is not false. The caller holds configMu.
func (h *host) guestAgents() []string {
	agent := hypervisor.Agent(h.hypervisor())
	if agent == "" || h.images == nil || !h.hypervisorService() {
		return nil
	}
	d, ok := h.imageDefs()[agent]
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if has, err := h.images.Has(ctx, d.Image); err != nil || !has {
		if err != nil {
			h.debugf("guest agent %s: %v", agent, err)
		}
		return nil
	}
	return []string{agent}
}

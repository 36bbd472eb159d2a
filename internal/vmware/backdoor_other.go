//go:build !amd64

package vmware

// Backdoor is the hypervisor's port; it exists on amd64 only.
type Backdoor struct{}

// Call sets r as no VMware backdoor would: Version and RPC then give
// ErrNotVMware.
func (Backdoor) Call(r *Regs) { *r = Regs{AX: 0xFFFFFFFF} }

package build

import "context"

// The kernel, the initrd and the root squashfs are artifacts as the
// stages made them.

func writeKernel(_ context.Context, j *job) ([]string, error)   { return []string{j.kernel.Vmlinuz}, nil }
func writeInitrd(_ context.Context, j *job) ([]string, error)   { return []string{j.initrd}, nil }
func writeSquashfs(_ context.Context, j *job) ([]string, error) { return []string{j.rootfs}, nil }

package images

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// Has tells whether ref is in the store.
func (s *Store) Has(ctx context.Context, ref string) (bool, error) {
	name, err := Normalize(ref)
	if err != nil {
		return false, err
	}
	_, err = s.Client.GetImage(s.ctx(ctx), name)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("image %s: %w", name, err)
	}
	return true, nil
}

// Package datasource finds a host's user-data: on a volume (NoCloud's
// cidata, OpenStack's config-2), in QEMU's fw_cfg, on the state partition,
// at a URL from the kernel command line, or from a cloud's metadata service
// (EC2 IMDSv2 and v1, OpenStack, GCE). Sources are tried in a configurable
// order, each with a timeout; the first that has user-data wins.
package datasource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound means a source is not present on this host (no volume, no
// metadata service answering): the next one is tried.
var ErrNotFound = errors.New("not present")

// ErrUnavailable means nothing answered where a network source was looked
// for (no route, refused, no answer in time): the next source is tried,
// and a network source is asked again meanwhile.
var ErrUnavailable = errors.New("not answering")

// absent is err, from asking a service what a source expected, as the
// reason the source is absent: ErrUnavailable when nothing answered, else
// ErrNotFound (something answered, but not as this kind of source would).
func absent(what string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: not %s (%w)", ErrNotFound, what, err)
}

// Absent says whether err means a source is not there (ErrNotFound or
// ErrUnavailable) rather than there and broken.
func Absent(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable)
}

// Data is what a source provides.
type Data struct {
	Source     string // the source's name, e.g. nocloud
	UserData   []byte // nil when the source has none
	InstanceID string
	Hostname   string
	PublicKeys []string
	// NetworkConfig is cloud-init network configuration (NoCloud's
	// network-config), nil when the source has none.
	NetworkConfig []byte
	// Notes say what the source did besides giving data (Azure's ready
	// report), for hostctl config status.
	Notes []string
}

// Source is one datasource.
type Source interface {
	Name() string
	// Network says whether the source needs the network up.
	Network() bool
	// Fetch returns the source's data, or ErrNotFound.
	Fetch(ctx context.Context) (*Data, error)
}

// Attempt is what trying one source gave, for hostctl config status.
type Attempt struct {
	Source string
	Err    error
	Took   time.Duration
}

// First tries sources in order, each for at most timeout (or longer, the
// Timeout a source asks for), and returns the first that has data, with
// the attempts made.
func First(ctx context.Context, sources []Source, timeout time.Duration) (*Data, []Attempt) {
	var attempts []Attempt
	for _, s := range sources {
		start := time.Now()
		t := timeout
		if l, ok := s.(interface{ Timeout() time.Duration }); ok {
			t = max(t, l.Timeout())
		}
		sctx, cancel := context.WithTimeout(ctx, t)
		d, err := fetch(sctx, s)
		cancel()
		if err == nil && d == nil {
			err = ErrNotFound
		}
		if err != nil && sctx.Err() != nil && !errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: no answer in %s", ErrUnavailable, t)
		}
		attempts = append(attempts, Attempt{Source: s.Name(), Err: err, Took: time.Since(start)})
		if err == nil {
			d.Source = s.Name()
			return d, attempts
		}
	}
	return nil, attempts
}

// fetch asks a source for its data. A network source is asked again, with
// backoff, while it does not answer: it is tried only where the host
// expects it (its cloud in the DMI tables, a URL on the command line), and
// a metadata service may answer only a moment after the network came up.
func fetch(ctx context.Context, s Source) (*Data, error) {
	wait := 250 * time.Millisecond
	for {
		d, err := s.Fetch(ctx)
		if err == nil || !s.Network() || !Absent(err) {
			return d, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// ParseNoCloudCmdline reads ds=nocloud;s=URL (or nocloud-net) from a kernel
// command line flag value.
func ParseNoCloudCmdline(v string) (seed string, ok bool) {
	parts := strings.Split(v, ";")
	if len(parts) == 0 || (parts[0] != "nocloud" && parts[0] != "nocloud-net") {
		return "", false
	}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(p, "=")
		if k == "s" || k == "seedfrom" {
			return val, true
		}
	}
	return "", false
}

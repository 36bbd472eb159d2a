package hostctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/semver"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
)

// osCmd is hostctl os: the running system, its root and its slots.
func osCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "os", Short: "Show how this host booted: its medium, root slot and verified root"}
	status := func(cmd *cobra.Command, _ []string) error {
		s, err := client().OSStatus(cmd.Context())
		if err != nil {
			return err
		}
		printOS(stdout, s)
		return nil
	}
	c.RunE = status
	c.Args = cobra.NoArgs
	c.AddCommand(&cobra.Command{Use: "status", Short: c.Short, Args: cobra.NoArgs, RunE: status})
	var tries int
	rollback := &cobra.Command{
		Use:   "rollback",
		Short: "Try the other slot at the next boots; it is kept once healthy, else the boot disk goes back to this one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			msg, err := client().Rollback(cmd.Context(), api.RollbackRequest{Tries: tries})
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, msg)
			return nil
		},
	}
	rollback.Flags().IntVar(&tries, "tries", 3, "boots the other slot gets to become healthy (1 to 3)")
	c.AddCommand(rollback, upgradeCmd(client, stdout), listCmd(client, stdout))
	return c
}

// upgradeCmd is hostctl os upgrade: PID 1 writes a signed bundle into the
// other slot, which the next boot tries.
func upgradeCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	var image, version string
	var stage, reboot, activate bool
	var tries int
	c := &cobra.Command{
		Use:   "upgrade [--image FILE|URL|REF | --version V]",
		Short: "Write a signed upgrade bundle into the other slot, tried at the next boot and kept once healthy",
		Long: `Write an upgrade bundle (berth build's NAME.bundle: a file, an http(s)
URL, or a registry reference that berth push pushed it to, which the host
pulls with the registry settings of image pulls) into the boot disk's
other slot. The host checks the bundle's
signature against the key its image carries before it writes anything,
and each file's sha256 as it arrives. The slot is then tried at the next
boot (3 tries), and kept once every system service is healthy; otherwise
the disk goes back to this slot. --stage writes the slot without having it
tried, and --activate has a staged slot tried. --reboot reboots once the
slot is written.

Without --image, the bundle comes from berth.upgrade.repository: the
newest version it offers above the running one, or --version.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case activate && (image != "" || version != "" || stage):
				return errkind.Mark(errkind.ErrUsage, errors.New("--activate: takes no --image, --version or --stage: it has the staged slot tried"))
			case image != "" && version != "":
				return errkind.Mark(errkind.ErrUsage, errors.New("--version: picks a version of berth.upgrade.repository; --image names the bundle itself: give one"))
			case activate:
				msg, err := client().Rollback(cmd.Context(), api.RollbackRequest{Tries: tries})
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, msg)
			case image == "":
				ref, err := fromRepository(cmd.Context(), client(), version, stdout)
				if err != nil || ref == "" {
					return err
				}
				res, err := client().Upgrade(cmd.Context(), api.UpgradeRequest{Stage: stage, Tries: tries, Ref: ref}, nil, stdout)
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, res.Message)
			case isRef(image):
				res, err := client().Upgrade(cmd.Context(), api.UpgradeRequest{Stage: stage, Tries: tries, Ref: image}, nil, stdout)
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, res.Message)
			default:
				r, err := openBundle(cmd.Context(), image)
				if err != nil {
					return err
				}
				defer r.Close()
				res, err := client().Upgrade(cmd.Context(), api.UpgradeRequest{Stage: stage, Tries: tries}, r, stdout)
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, res.Message)
			}
			if reboot {
				fmt.Fprintln(stdout, "rebooting")
				return client().Reboot(cmd.Context())
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&image, "image", "", "the bundle: a `FILE`, an http(s) URL or a registry reference")
	f.StringVar(&version, "version", "", "the `VERSION` of berth.upgrade.repository to upgrade to (default: the newest above the running one)")
	f.BoolVar(&stage, "stage", false, "write the slot, but don't have it tried (see --activate)")
	f.BoolVar(&activate, "activate", false, "have the staged slot tried at the next boot")
	f.BoolVar(&reboot, "reboot", false, "reboot once the slot is written")
	f.IntVar(&tries, "tries", 3, "boots the new slot gets to become healthy (1 to 3)")
	return c
}

// isRef says whether --image names a registry reference: not a file that
// is there, not a URL, and with a repository path (registry.lan/berth/os:1).
func isRef(image string) bool {
	if _, err := os.Stat(image); err == nil {
		return false
	}
	if strings.Contains(image, "://") || strings.HasPrefix(image, "/") || strings.HasPrefix(image, ".") {
		return false
	}
	return strings.Contains(image, "/") && !strings.HasSuffix(image, ".bundle")
}

// repositoryKey is the cloud-config key of the host's upgrade repository.
const repositoryKey = "berth.upgrade.repository"

// upgradeRepository is the host's berth.upgrade.repository: "" when not set.
func upgradeRepository(ctx context.Context, c *api.Client) (string, error) {
	v, err := c.ConfigValue(ctx, repositoryKey)
	if errors.Is(err, errkind.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	s, _ := v.Value.(string)
	return s, nil
}

// fromRepository is the reference of the bundle hostctl os upgrade
// without --image writes: version of berth.upgrade.repository, or the
// newest version there above the running one. "" with a line on stdout
// when there is none: the host is up to date.
func fromRepository(ctx context.Context, c *api.Client, version string, stdout io.Writer) (string, error) {
	repo, err := upgradeRepository(ctx, c)
	if err != nil {
		return "", err
	}
	if repo == "" {
		return "", errkind.Mark(errkind.ErrUsage, errors.New("--image: name the bundle, a file, an http(s) URL or a registry reference, or set "+repositoryKey+" (hostctl config set "+repositoryKey+" registry.lan/berth/os)"))
	}
	if version != "" {
		return repo + ":" + version, nil
	}
	tags, err := c.Versions(ctx, repo)
	if err != nil {
		return "", err
	}
	s, err := c.OSStatus(ctx)
	if err != nil {
		return "", err
	}
	if !semver.IsValid(semverOf(s.Version)) {
		return "", errkind.Mark(errkind.ErrUsage, fmt.Errorf("the running version %q is not a semantic version to compare %s's with: name one with --version", s.Version, repo))
	}
	n := newest(tags, s.Version)
	if n == "" {
		fmt.Fprintf(stdout, "%s offers no version above the running %s (it has: %s)\n", repo, s.Version, strings.Join(tags, ", "))
		return "", nil
	}
	fmt.Fprintf(stdout, "%s:%s is the newest version above the running %s\n", repo, n, s.Version)
	return repo + ":" + n, nil
}

// newest is the highest of tags above running, compared as semantic
// versions (1.2.3, 1.2.3-rc1, with or without a v); tags that are not
// are left out. "" when none is above running.
func newest(tags []string, running string) string {
	sv := semverOf
	best := ""
	for _, t := range tags {
		v := sv(t)
		if !semver.IsValid(v) || semver.Compare(v, sv(running)) <= 0 {
			continue
		}
		if best == "" || semver.Compare(v, sv(best)) > 0 {
			best = t
		}
	}
	return best
}

// semverOf is version as golang.org/x/mod/semver takes it: with a v.
func semverOf(version string) string {
	if !strings.HasPrefix(version, "v") {
		return "v" + version
	}
	return version
}

// listCmd is hostctl os list: the versions a registry offers.
func listCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list [REPOSITORY]",
		Short: "List the versions (tags) of a repository of upgrade bundles (default: berth.upgrade.repository), e.g. registry.lan/berth/os",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client()
			var repo string
			if len(args) == 1 {
				repo = args[0]
			} else {
				var err error
				if repo, err = upgradeRepository(cmd.Context(), c); err != nil {
					return err
				}
				if repo == "" {
					return errkind.Mark(errkind.ErrUsage, errors.New("name a REPOSITORY, or set "+repositoryKey))
				}
			}
			tags, err := c.Versions(cmd.Context(), repo)
			if err != nil {
				return err
			}
			running := ""
			if s, err := c.OSStatus(cmd.Context()); err == nil {
				running = s.Version
			}
			for _, t := range tags {
				if t == running {
					t += " (running)"
				}
				fmt.Fprintln(stdout, t)
			}
			return nil
		},
	}
}

// openBundle opens a bundle file, or GETs an http(s) URL.
func openBundle(ctx context.Context, image string) (io.ReadCloser, error) {
	if !strings.HasPrefix(image, "http://") && !strings.HasPrefix(image, "https://") {
		f, err := os.Open(image)
		if err != nil {
			return nil, fmt.Errorf("--image: %w", err)
		}
		return f, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, image, nil)
	if err != nil {
		return nil, errkind.Mark(errkind.ErrUsage, fmt.Errorf("--image: %w", err))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("--image: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("--image: GET %s: %s", image, resp.Status))
	}
	return resp.Body, nil
}

func printOS(w io.Writer, s api.OS) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	medium := s.Medium
	if s.Disk != "" {
		medium += " (" + s.Disk + ")"
	}
	fmt.Fprintf(tw, "version\t%s\nmedium\t%s\n", s.Version, medium)
	if s.BootPart != "" {
		fmt.Fprintf(tw, "boot partition\t%s\n", s.BootPart)
	}
	fmt.Fprintf(tw, "root\t%s (slot %s)\n", s.Root, s.Slot)
	if s.Verity != "" {
		fmt.Fprintf(tw, "verified\tyes: dm-verity, berth.verity=%s\n", s.Verity)
	} else {
		fmt.Fprintf(tw, "verified\tno: booted without berth.verity\n")
	}
	if b := s.Boot; b != nil {
		switch {
		case b.Error != "":
			fmt.Fprintf(tw, "boot chain\tunknown: %s\n", b.Error)
		default:
			fmt.Fprintf(tw, "good slot\t%s\n", b.Good)
		}
		if b.Trying != "" {
			fmt.Fprintf(tw, "trying\tslot %s (%d tries left)\n", b.Trying, b.TriesLeft)
		}
		if b.Rejected != "" {
			fmt.Fprintf(tw, "rejected\tslot %s: %s\n", b.Rejected, b.Why)
		}
	}
	for _, sl := range s.Slots {
		part := sl.Partition
		if part == "" {
			part = "-"
		}
		state := sl.State
		if sl.Version != "" {
			state += "\t" + sl.Version
		}
		fmt.Fprintf(tw, "slot %s\t%s\t%s\n", sl.Name, part, state)
	}
	if u := s.LastUpgrade; u != nil {
		fmt.Fprintf(tw, "last upgrade\t%s -> %s in slot %s, %s: %s\n", u.From, u.To, u.Slot, u.At.Format(time.RFC3339), u.Result)
	}
	tw.Flush()
}

package build

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/gobin"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/squashfs"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/osbundle"
	"github.com/berth-os/berth/internal/verity"
	"github.com/berth-os/berth/services"
)

// Sources of layout steps.
func packages(set string) tree.Source { return tree.Source{Kind: "packages", Name: set} }
func program(name string) tree.Source { return tree.Source{Kind: "go", Name: name} }
func bundle(service string) tree.Source {
	return tree.Source{Kind: "service", Name: service}
}

var kernelModules = tree.Source{Kind: "kernel", Name: "modules"}

// catalogue is the repository's services/catalogue.
var catalogue = tree.Source{Kind: "catalogue", Name: "services"}

// caBundle is the CA bundle the host and cloud-config's ca_certs read.
const caBundle = "/usr/share/berth/ca-certificates.crt"

// hostLayout is the host's root filesystem, built from the image's parts:
// the host packages, firmware, time zones and CA certificates, the
// kernel's modules, the Go programs that run on the host, a bundle per
// service, the /etc template and the image info.
// gconvDir holds glibc's iconv modules (8 MiB), which the host root and
// the built-in services leave out.
const gconvDir = "/usr/lib/x86_64-linux-gnu/gconv"

func hostLayout(bins []gobin.Binary, defs []*services.Definition, info layout.Info) (tree.Layout, error) {
	infoJSON, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("image info: %w", err)
	}
	l := tree.Layout{
		tree.Skeleton{},
		tree.Merge{From: packages("host"), To: "/"},
		// The packages' /etc is the template /etc is rendered from (below).
		tree.Remove{Path: "/etc"},
		tree.Dir{Path: "/etc", Mode: 0o755},
		// glibc's iconv modules: e2fsprogs and crun never convert
		// character sets (UTF-8 and ASCII are built into glibc).
		tree.Remove{Path: gconvDir},
		// crun's package has its static library too (1.1 MB), which
		// nothing on the host links.
		tree.Remove{Path: "/usr/lib/x86_64-linux-gnu/libcrun.a"},
		tree.BusyboxLinks{Busybox: "/usr/bin/busybox"},
		tree.Merge{From: packages("firmware"), To: "/"},
		tree.Merge{From: packages("tzdata"), Sub: "usr/share/zoneinfo", To: "/usr/share/zoneinfo"},
		// ca-certificates' postinst never runs: make its bundle here.
		tree.Concat{From: packages("certs"), Sub: "usr/share/ca-certificates", Suffix: ".crt", To: caBundle, Mode: 0o644},
		tree.Concat{From: packages("certs"), Sub: "usr/share/ca-certificates", Suffix: ".crt", To: layout.EtcTemplate + "/ssl/certs/ca-certificates.crt", Mode: 0o644},
		tree.Merge{From: kernelModules, To: "/"},
	}
	for _, b := range bins {
		if b.Host != "" {
			l = append(l, tree.Install{From: program(b.Name), To: b.Host, Mode: 0o755})
		}
		for _, link := range b.Links {
			l = append(l, tree.HardLink{Path: link, Target: b.Host})
		}
	}
	initLink, err := filepath.Rel("/usr/sbin", layout.Init)
	if err != nil {
		return nil, fmt.Errorf("link /usr/sbin/init: %w", err)
	}
	l = append(l, tree.Symlink{Path: "/usr/sbin/init", Target: initLink})
	for _, d := range defs {
		l = append(l, tree.Merge{From: bundle(d.Name), To: layout.ServicesDir + "/" + d.Name})
	}
	// The service catalogue, read-only, for hostctl service and PID 1.
	l = append(l, tree.Merge{From: catalogue, To: layout.CatalogueDir})
	// The /etc template: the host packages' /etc, and that of services that
	// share the host's /etc (the console).
	l = append(l, tree.Merge{From: packages("host"), Sub: "etc", To: layout.EtcTemplate, IfExists: true})
	for _, d := range defs {
		for _, v := range d.Volumes {
			if v.Source == "/etc" {
				l = append(l, tree.Merge{From: bundle(d.Name), Sub: "rootfs/etc", To: layout.EtcTemplate, IfExists: true})
			}
		}
	}
	osRelease := fmt.Sprintf("NAME=Berth\nID=berth\nVERSION_ID=%s\nPRETTY_NAME=\"Berth %s\"\n", info.Versions.Berth, info.Versions.Berth)
	return append(l,
		tree.File{Path: layout.InfoPath, Mode: 0o644, Data: append(infoJSON, '\n'), What: "image info (name, services, versions)"},
		tree.File{Path: "/usr/lib/os-release", Mode: 0o644, Data: []byte(osRelease), What: "os-release"},
		// The services' libraries (libc, libcrypto...) are the host's
		// own or each other's: one inode, read once.
		tree.LinkSame{},
	), nil
}

// resolver finds the sources of layout steps among the build's parts.
func (j *job) resolver(ctx context.Context) tree.Resolver {
	return func(s tree.Source) (string, error) {
		switch s.Kind {
		case "packages":
			return j.sets.get(ctx, s.Name)
		case "go":
			return filepath.Join(j.gobin, s.Name), nil
		case "service":
			if d, ok := j.bundles[s.Name]; ok {
				return d, nil
			}
		case "kernel":
			if s.Name == "modules" {
				return j.kernel.Modules, nil
			}
		case "catalogue":
			return filepath.Join(j.o.ModuleRoot, services.CatalogueFolder), nil
		case "files":
			for _, d := range j.defs {
				if d.Name == s.Name && d.XBerth.Rootfs != nil && d.XBerth.Rootfs.Files != "" {
					return filepath.Join(d.Dir, d.XBerth.Rootfs.Files), nil
				}
			}
		}
		return "", fmt.Errorf("no source %s in this build", s)
	}
}

// layoutKey adds a layout to a cache key: its steps, the data of its
// files, and what each source is (the cache entry it is, or the content of
// a repository folder).
func (j *job) layoutKey(k *cache.Hasher, l tree.Layout, r tree.Resolver) error {
	for _, line := range l.Lines() {
		k.String("step", line)
	}
	for _, s := range l {
		if f, ok := s.(tree.File); ok {
			k.Bytes(f.Path, f.Data)
		}
	}
	for _, src := range l.Sources() {
		p, err := r(src)
		if err != nil {
			return err
		}
		switch src.Kind {
		case "files", "catalogue":
			k.Dir(src.String(), p)
		case "go":
			k.String(src.String(), filepath.Base(j.gobin)+"/"+src.Name)
		case "kernel":
			k.String(src.String(), filepath.Base(j.kernel.Dir))
		default: // a cache entry: its key names its content
			k.String(src.String(), filepath.Base(p))
		}
	}
	return nil
}

// imageInfo is what PID 1 learns about its image (layout.InfoPath).
func (j *job) imageInfo() layout.Info {
	return layout.Info{Name: j.spec.Name, Hostname: j.spec.Hostname, Sysctl: j.spec.Sysctl, Services: j.spec.Services, Versions: j.versions, Rescue: j.spec.Rescue}
}

// buildRootfs assembles the host root and squashes it.
func (j *job) buildRootfs(ctx context.Context) error {
	l, err := hostLayout(j.bins, j.defs, j.imageInfo())
	if err != nil {
		return err
	}
	l = append(l, tree.File{Path: layout.UpgradeKeyPath, Mode: 0o644, Data: osbundle.MarshalPublicKey(j.signKey.Public().(ed25519.PublicKey)), What: "the upgrade bundles' public key"})
	r := j.resolver(ctx)
	k := cache.NewKey("rootfs", 5).String("epoch", strconv.FormatInt(j.epoch, 10)).String("compression", j.spec.Compression).String("block", squashfs.BlockSize)
	if err := j.layoutKey(k, l, r); err != nil {
		return err
	}
	key, err := k.Key()
	if err != nil {
		return err
	}
	step := cache.Step{Stage: "rootfs", Key: key, Title: "root filesystem (squashfs)", Made: "built"}
	dir, _, err := j.c.Reported(j.rep, step, func(out string, _ progress.Task) error {
		t := &tree.Tree{Root: filepath.Join(out, "tree")}
		defer cache.RemoveAll(t.Root)
		if err := l.Apply(t, r); err != nil {
			return err
		}
		sqfs := filepath.Join(out, "rootfs.squashfs")
		if err := squashfs.Make(ctx, t.Root, sqfs, j.epoch, j.spec.Compression); err != nil {
			return err
		}
		// The hash tree goes after the squashfs, in the same file: every
		// medium that carries the root carries its tree.
		p, err := verity.Append(sqfs)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, rootfsVerity), []byte(p.String()+"\n"), 0o644)
	})
	if err != nil {
		return err
	}
	j.rootfs = filepath.Join(dir, "rootfs.squashfs")
	b, err := os.ReadFile(filepath.Join(dir, rootfsVerity))
	if err != nil {
		return fmt.Errorf("root filesystem: %w", err)
	}
	if j.verity, err = verity.Parse(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("root filesystem: %s: %w", rootfsVerity, err)
	}
	return nil
}

// rootfsVerity is the file beside rootfs.squashfs in its cache entry that
// holds verity.Params.
const rootfsVerity = "rootfs.verity"

// cmdline is the kernel command line of every boot entry: the root's
// verity flag, then the spec's.
func (j *job) cmdline() string {
	return verity.Flag + "=" + j.verity.String() + " " + j.spec.Cmdline
}

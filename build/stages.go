package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
	"github.com/berth-os/berth/build/initramfs"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/squashfs"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/kernel"
	"github.com/berth-os/berth/services"
)

// debSets extracts package sets of the lock, each once per build.
type debSets struct {
	cache *cache.Cache
	lock  *deb.Lock
	rep   progress.Reporter
	dirs  map[string]string
}

// get returns the folder a set is extracted in, keyed by its pins.
func (s *debSets) get(ctx context.Context, name string) (string, error) {
	if d, ok := s.dirs[name]; ok {
		return d, nil
	}
	pkgs, err := s.lock.Set(name)
	if err != nil {
		return "", err
	}
	k := cache.NewKey("debs", 1)
	for _, p := range pkgs {
		k.String(p.Name, p.SHA256)
	}
	key, err := k.Key()
	if err != nil {
		return "", err
	}
	dir, _, err := s.cache.Reported(s.rep, "packages "+name, int64(len(pkgs)), "debs", key, "extracted", func(out string, task progress.Task) error {
		for _, p := range pkgs {
			path, err := s.cache.Fetch(ctx, p.Download(), nil)
			if err != nil {
				return fmt.Errorf("package %s %s: %w (run `berth debs lock` if Debian dropped it)", p.Name, p.Version, err)
			}
			if err := deb.Extract(path, out, deb.Options{Keep: deb.DefaultKeep}); err != nil {
				return err
			}
			task.Add(1)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.dirs[name] = dir
	return dir, nil
}

// serviceBundle makes /usr/lib/berth/services/<name>: rootfs/ (packages,
// Go programs, files, mount points), config.json and service.json.
func serviceBundle(ctx context.Context, c *cache.Cache, rep progress.Reporter, sets *debSets, gobinDir string, d *services.Definition) (string, error) {
	spec, err := d.Spec()
	if err != nil {
		return "", err
	}
	specJSON, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", err
	}
	rtJSON, _ := json.MarshalIndent(d.Runtime(), "", "  ")
	k := cache.NewKey("service", 2).String("name", d.Name).Bytes("spec", specJSON).Bytes("runtime", rtJSON).String("gobin", filepath.Base(gobinDir))
	var debDir string
	if d.Rootfs.Debs != "" {
		if debDir, err = sets.get(ctx, d.Rootfs.Debs); err != nil {
			return "", err
		}
		k.String("debs", filepath.Base(debDir))
	}
	for _, dst := range sortedKeys(d.Rootfs.Go) {
		k.String("go", dst+"="+d.Rootfs.Go[dst])
	}
	k.String("exclude", strings.Join(d.Rootfs.Exclude, "\n"))
	filesDir := ""
	if d.Rootfs.Files != "" {
		filesDir = filepath.Join(d.Dir, d.Rootfs.Files)
		k.Dir("files", filesDir)
	}
	key, err := k.Key()
	if err != nil {
		return "", err
	}
	dir, _, err := c.Reported(rep, "service "+d.Name, 0, "service", key, "assembled", func(out string, _ progress.Task) error {
		t := &tree.Tree{Root: filepath.Join(out, "rootfs")}
		if err := t.Skeleton(); err != nil {
			return err
		}
		if debDir != "" {
			if err := t.Merge(debDir, "/"); err != nil {
				return err
			}
			for _, x := range d.Rootfs.Exclude {
				if err := t.Remove(x); err != nil {
					return err
				}
			}
			if bb := "/usr/bin/busybox"; t.Exists(bb) {
				if _, err := t.BusyboxLinks(bb); err != nil {
					return err
				}
			}
		}
		for _, dst := range sortedKeys(d.Rootfs.Go) {
			if err := t.Install(filepath.Join(gobinDir, filepath.Base(dst)), dst, 0o755); err != nil {
				return err
			}
		}
		if filesDir != "" {
			if err := t.Merge(filesDir, "/"); err != nil {
				return err
			}
		}
		// The rootfs is read-only: runc cannot make mount points in it.
		dirs, files := services.Mountpoints(spec)
		for _, m := range dirs {
			if !t.Exists(m) {
				if err := t.Dir(m, 0o755); err != nil {
					return err
				}
			}
		}
		for _, m := range files {
			if !t.Exists(m) {
				if err := t.File(m, nil, 0o644); err != nil {
					return err
				}
			}
		}
		if err := os.WriteFile(filepath.Join(out, "config.json"), append(specJSON, '\n'), 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, "service.json"), append(rtJSON, '\n'), 0o644)
	})
	return dir, err
}

// rootfs assembles the host root and squashes it.
func rootfs(ctx context.Context, c *cache.Cache, rep progress.Reporter, sets *debSets, gobinDir string, kr kernel.Result,
	defs []*services.Definition, bundles map[string]string, p *parts) (string, error) {
	host, err := sets.get(ctx, "host")
	if err != nil {
		return "", err
	}
	fw, err := sets.get(ctx, "firmware")
	if err != nil {
		return "", err
	}
	tz, err := sets.get(ctx, "tzdata")
	if err != nil {
		return "", err
	}
	certs, err := sets.get(ctx, "certs")
	if err != nil {
		return "", err
	}
	info := layout.Info{Name: p.spec.Name, Hostname: p.spec.Hostname, Sysctl: p.spec.Sysctl, Services: p.spec.Services, Versions: p.versions}
	infoJSON, _ := json.MarshalIndent(info, "", "  ")
	// /etc template: the host's packages' /etc, and that of services that
	// share the host's /etc (the console).
	etcSources := []string{filepath.Join(host, "etc")}
	for _, d := range defs {
		for _, b := range d.Binds {
			if pb, _ := services.ParseBind(b); pb.Source == "/etc" {
				etcSources = append(etcSources, filepath.Join(bundles[d.Name], "rootfs", "etc"))
			}
		}
	}
	k := cache.NewKey("rootfs", 3).
		String("host", filepath.Base(host)).String("firmware", filepath.Base(fw)).
		String("tzdata", filepath.Base(tz)).String("certs", filepath.Base(certs)).
		String("gobin", filepath.Base(gobinDir)).String("kernel", filepath.Base(kr.Dir)).
		Bytes("info", infoJSON).String("epoch", fmt.Sprint(p.epoch)).String("compression", p.spec.Compression)
	for _, d := range defs {
		k.String("service "+d.Name, filepath.Base(bundles[d.Name]))
	}
	key, err := k.Key()
	if err != nil {
		return "", err
	}
	dir, _, err := c.Reported(rep, "root filesystem (squashfs)", 0, "rootfs", key, "built", func(out string, _ progress.Task) error {
		t := &tree.Tree{Root: filepath.Join(out, "tree")}
		defer cache.RemoveAll(t.Root)
		if err := t.Skeleton(); err != nil {
			return err
		}
		if err := t.Merge(host, "/"); err != nil {
			return err
		}
		cache.RemoveAll(filepath.Join(t.Root, "etc"))
		t.Dir("etc", 0o755)
		if _, err := t.BusyboxLinks("/usr/bin/busybox"); err != nil {
			return err
		}
		if err := t.Merge(fw, "/"); err != nil {
			return err
		}
		if err := t.Merge(filepath.Join(tz, "usr/share/zoneinfo"), "/usr/share/zoneinfo"); err != nil {
			return err
		}
		bundle, err := caBundle(filepath.Join(certs, "usr/share/ca-certificates"))
		if err != nil {
			return err
		}
		if err := t.File("/usr/share/berth/ca-certificates.crt", bundle, 0o644); err != nil {
			return err
		}
		if err := t.File("/usr/share/berth/etc/ssl/certs/ca-certificates.crt", bundle, 0o644); err != nil {
			return err
		}
		if err := t.Merge(kr.Modules, "/"); err != nil {
			return err
		}
		for _, f := range []struct {
			bin, dst string
		}{
			{"init", "/usr/lib/berth/init"},
			{"containerd", "/usr/bin/containerd"},
			{"containerd-shim-runc-v2", "/usr/bin/containerd-shim-runc-v2"},
			{"runc", "/usr/bin/runc"},
			{"hostctl", "/usr/bin/hostctl"},
		} {
			if err := t.Install(filepath.Join(gobinDir, f.bin), f.dst, 0o755); err != nil {
				return err
			}
		}
		if err := t.Symlink("usr/sbin/init", "../lib/berth/init"); err != nil {
			return err
		}
		for _, d := range defs {
			if err := t.Merge(bundles[d.Name], layout.ServicesDir+"/"+d.Name); err != nil {
				return err
			}
		}
		for _, src := range etcSources {
			if _, err := os.Stat(src); err == nil {
				if err := t.Merge(src, "/usr/share/berth/etc"); err != nil {
					return err
				}
			}
		}
		if err := t.File(layout.InfoPath, append(infoJSON, '\n'), 0o644); err != nil {
			return err
		}
		osr := fmt.Sprintf("NAME=Berth\nID=berth\nVERSION_ID=%s\nPRETTY_NAME=\"Berth %s\"\n", p.versions.Berth, p.versions.Berth)
		if err := t.File("/usr/lib/os-release", []byte(osr), 0o644); err != nil {
			return err
		}
		return squashfs.Make(ctx, t.Root, filepath.Join(out, "rootfs.squashfs"), p.epoch, p.spec.Compression)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "rootfs.squashfs"), nil
}

// makeInitramfs writes the initramfs: stage 1 and a static busybox.
func makeInitramfs(ctx context.Context, c *cache.Cache, rep progress.Reporter, sets *debSets, gobinDir string) (string, error) {
	bbDir, err := sets.get(ctx, "initramfs")
	if err != nil {
		return "", err
	}
	contents := initramfsContents(gobinDir, bbDir)
	key, err := cache.NewKey("initramfs", 1).File("stage1", contents.Stage1).File("busybox", contents.Busybox).
		String("applets", strings.Join(contents.Applets, " ")).Key()
	if err != nil {
		return "", err
	}
	dir, _, err := c.Reported(rep, "initramfs", 0, "initramfs", key, "built", func(out string, _ progress.Task) error {
		var buf bytes.Buffer
		if err := initramfs.Write(&buf, contents); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, "initrd.img"), buf.Bytes(), 0o644)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "initrd.img"), nil
}

func initramfsContents(gobinDir, bbDir string) initramfs.Contents {
	return initramfs.Contents{
		Stage1:  filepath.Join(gobinDir, "stage1"),
		Busybox: filepath.Join(bbDir, "usr/bin/busybox"),
		Applets: []string{"sh", "ls", "cat", "mount", "umount", "dmesg", "blkid", "mkdir", "ps", "reboot", "poweroff", "sleep", "switch_root", "losetup", "find", "grep", "less", "vi"},
	}
}

// caBundle concatenates the certificates of the ca-certificates package in
// name order, as update-ca-certificates would (its postinst never runs).
func caBundle(dir string) ([]byte, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".crt") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	sort.Strings(files)
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("CA bundle: no certificates in %s", dir)
	}
	return out, nil
}

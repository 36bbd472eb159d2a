package build

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/tree"
)

// writer makes one output format from the build's parts. A new format is
// a file with its Write function and a row in the table below.
type writer struct {
	Output string
	// Default formats are written when a spec lists no outputs.
	Default bool
	// Tools are the host programs Write runs.
	Tools []string
	// Write makes the format's files (in a cache stage) and returns them.
	Write func(ctx context.Context, j *job) ([]string, error)
	// Name is the artifact name of a file Write made.
	Name func(spec, file string) string
	// Needs are the outputs written with this one (its files refer to
	// theirs).
	Needs []string
}

// writers is the table of output formats, in the order they are written.
var writers = []writer{
	{Output: "kernel", Default: true, Name: fileName, Write: writeKernel},
	{Output: "vmlinux", Name: fileName, Write: writeVmlinux},
	{Output: "initrd", Default: true, Name: fileName, Write: writeInitrd},
	{Output: "squashfs", Default: true, Name: fileName, Write: writeSquashfs},
	{Output: "iso", Default: true, Name: specName("iso"), Write: writeISO, Tools: isoTools},
	{Output: "raw", Default: true, Name: specName("raw"), Write: writeRaw, Tools: rawTools},
	{Output: "bundle", Default: true, Name: specName("bundle"), Write: writeBundle, Tools: rawTools},
	{Output: "qcow2", Default: true, Name: specName("qcow2"), Write: writeQcow2, Tools: qcow2Tools},
	{Output: "vmdk", Name: specName("vmdk"), Write: vmdkFormat.write, Tools: rawTools},
	{Output: "vdi", Name: specName("vdi"), Write: vdiFormat.write, Tools: rawTools},
	{Output: "vhd", Name: specName("vhd"), Write: vhdFormat.write, Tools: rawTools},
	{Output: "vhdx", Name: specName("vhdx"), Write: vhdxFormat.write, Tools: rawTools},
	{Output: "ova", Name: suffixName, Write: writeOVA, Tools: rawTools},
	{Output: "gce", Name: func(spec, _ string) string { return spec + "-gce.tar.gz" }, Write: gceFormat.write, Tools: rawTools},
	{Output: "pxe", Name: specName("ipxe"), Write: writePXE, Needs: []string{"kernel", "initrd", "squashfs"}},
}

// fileName names an artifact after the file in its stage (vmlinuz).
func fileName(_, file string) string { return filepath.Base(file) }

// specName names an artifact after the image (berth.iso).
func specName(ext string) func(string, string) string {
	return func(spec, _ string) string { return spec + "." + ext }
}

// suffixName names an artifact after the image and the file in its stage
// (vmware.ova: berth-vmware.ova).
func suffixName(spec, file string) string { return spec + "-" + filepath.Base(file) }

// Outputs lists the formats the build can write, in table order.
func Outputs() []string {
	out := make([]string, len(writers))
	for i, w := range writers {
		out[i] = w.Output
	}
	return out
}

// wanted are the writers a spec asks for, in table order.
func wanted(spec *image.Spec) []writer {
	asked := map[string]bool{}
	for _, o := range spec.Outputs {
		asked[o] = true
	}
	for _, w := range writers {
		if asked[w.Output] {
			for _, n := range w.Needs {
				asked[n] = true
			}
		}
	}
	var out []writer
	for _, w := range writers {
		if asked[w.Output] || len(spec.Outputs) == 0 && w.Default {
			out = append(out, w)
		}
	}
	return out
}

// checkOutputs reports every output of the spec the table has no writer for.
func checkOutputs(spec *image.Spec) error { return image.CheckOutputs(spec, Outputs()).Err() }

// LoadSpec reads an image spec and checks it completely, its outputs
// against the table of writers included. moduleRoot holds services/.
func LoadSpec(path, moduleRoot string) (*image.Spec, error) {
	return image.Load(path, filepath.Join(moduleRoot, "services"), image.KnownOutputs(Outputs()))
}

// run writes the format and copies its files to the output folder.
func (w writer) run(j *job, ctx context.Context) error {
	files, err := w.Write(ctx, j)
	if err != nil {
		return err
	}
	if err := tree.MkdirAll(j.o.OutDir); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	for _, f := range files {
		name := w.Name(j.spec.Name, f)
		dst := filepath.Join(j.o.OutDir, name)
		if err := sparseCopy(f, dst); err != nil {
			return fmt.Errorf("copy %s to %s: %w", name, j.o.OutDir, err)
		}
		a, err := artifact(f, name)
		if err != nil {
			return err
		}
		j.res.Manifest.Artifacts = append(j.res.Manifest.Artifacts, a)
		j.res.Files[name] = dst
	}
	return nil
}

// media describes one file a media writer makes in its own cache stage.
type media struct {
	Stage   string
	Version int    // of the stage's recipe
	Title   string // of the progress task
	File    string // its name in the stage
}

// mediaKey hashes what every media output depends on.
func (j *job) mediaKey(m media, boot string) *cache.Hasher {
	return cache.NewKey(m.Stage, m.Version).String("build", j.buildID).String("boot", filepath.Base(boot)).
		String("cmdline", j.spec.Cmdline).String("epoch", strconv.FormatInt(j.epoch, 10)).
		String("disk", fmt.Sprintf("%+v", j.spec.Disk)).String("debug_entries", strconv.FormatBool(j.spec.DebugEntries)).
		String("secure_boot", j.secureBootID())
}

// makeMedia returns the file m names, running build(out, file) to make
// it when its stage is not cached.
func (j *job) makeMedia(m media, k *cache.Hasher, build func(out, file string) error) (string, error) {
	key, err := k.Key()
	if err != nil {
		return "", err
	}
	dir, _, err := j.c.Reported(j.rep, cache.Step{Stage: m.Stage, Key: key, Title: m.Title, Made: "built"}, func(out string, _ progress.Task) error {
		file := filepath.Join(out, m.File)
		if err := build(out, file); err != nil {
			return err
		}
		_, err := cachedSHA(file)
		return err
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, m.File), nil
}

// boot is the extracted "boot" package set: GRUB's images and modules
// (BIOS and UEFI), isolinux and its modules.
func (j *job) boot(ctx context.Context) (string, error) { return j.sets.get(ctx, "boot") }

// marker is the file only this build's medium has; GRUB finds its root by it.
func (j *job) marker() string { return "/berth/" + j.buildID + ".id" }

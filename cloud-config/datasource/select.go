package datasource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/blockdev"
)

// Selection says which sources a host tries, from its kernel command line
// and what its firmware says of the machine.
type Selection struct {
	// Order is berth.datasources: source names, url:URL (user-data at a
	// URL) and file:PATH (user-data in a file), replacing the default order
	// when not empty.
	Order []string
	// URL is berth.cloud_config_url: user-data at a URL.
	URL string
	// NoCloudSeed is the ds= flag (ds=nocloud;s=URL), as the kernel
	// command line gives it.
	NoCloudSeed string
	// DMI is the firmware's DMI folder (/sys/class/dmi/id on a host): the
	// cloud it names adds that cloud's metadata service.
	DMI string
	// Sysfs, Dev root the volume sources' block device scan (/sys and /dev).
	Sysfs, Dev string
	// Precedence decides which seed volumes are used (see Precedence).
	Precedence Precedence
	// Load readies the kernel to mount a filesystem type (loads its
	// module) before a volume of that type is mounted; nil does nothing.
	Load func(fstype string) error
	// GuestInfo reads VMware guestinfo keys (VMware.Read); nil leaves the
	// vmware source with nothing to read.
	GuestInfo func(ctx context.Context, keys []string) (map[string]string, error)
}

// sourcesOf is the table of every source a Selection can pick, by name. The
// volume sources wait for block devices once between them.
func (sel Selection) sourcesOf() map[string]Source {
	settle := &Settle{}
	nocloud, configdrive, azureMedia := NoCloud(), ConfigDrive(), AzureMedia()
	// A seed volume on a device anyone can plug in is used on an installed
	// host only when berth.datasources names it.
	listed := len(sel.Order) > 0
	trust := func(a blockdev.Attachment) (bool, string) { return sel.Precedence.Seed(a, listed) }
	for _, v := range []*Volume{nocloud, configdrive, azureMedia} {
		v.Settle = settle
		v.Trust = trust
		v.Load = sel.Load
		if sel.Sysfs != "" {
			v.Sysfs, v.Dev = sel.Sysfs, sel.Dev
		}
	}
	all := map[string]Source{
		"fwcfg":       File{SourceName: "fwcfg", Path: FwCfgUserData},
		"nocloud":     nocloud,
		"configdrive": configdrive,
		"state":       File{SourceName: "state", Path: StateUserData},
		"ec2":         &EC2{URL: MetadataAddr},
		"openstack":   &OpenStack{URL: MetadataAddr},
		"gce":         &GCE{URL: MetadataAddr},
		"azure":       &Azure{IMDS: MetadataAddr, Wireserver: WireserverAddr, Media: azureMedia},
		"vmware":      &VMware{Read: sel.GuestInfo},
		"url":         &URL{SourceName: "url", Location: sel.URL},
		"nocloud-net": &URL{SourceName: "nocloud-net", Seed: true},
	}
	if seed, ok := ParseNoCloudCmdline(sel.NoCloudSeed); ok {
		all["nocloud-net"] = &URL{SourceName: "nocloud-net", Location: seed, Seed: true}
	}
	return all
}

// Names lists every source name berth.datasources takes, sorted.
func Names() []string {
	var out []string
	for n := range (Selection{}).sourcesOf() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Select returns the sources to try now (local ones) and once the network
// is up (metadata services, URLs), in order: berth.datasources when given,
// else the local ones, a URL or seed from the command line, and the cloud
// the DMI tables name. Unknown names, and URL sources without a URL, are
// reported in problems and left out.
func (sel Selection) Select() (local, network []Source, problems []string) {
	all := sel.sourcesOf()
	order := sel.Order
	if len(order) == 0 {
		order = []string{"fwcfg", "nocloud", "configdrive", "state"}
		if sel.URL != "" {
			order = append(order, "url")
		}
		if _, ok := ParseNoCloudCmdline(sel.NoCloudSeed); ok {
			order = append(order, "nocloud-net")
		}
		if cloud := CloudFromDMI(sel.DMI); cloud != "" {
			order = append(order, cloud)
		}
	}
	for _, name := range order {
		name = strings.TrimSpace(name)
		s, ok := all[name]
		if src, isEntry, err := entrySource(name); isEntry {
			if err != nil {
				problems = append(problems, "berth.datasources: "+err.Error())
				continue
			}
			s, ok = src, true
		}
		switch {
		case !ok:
			problems = append(problems, "berth.datasources: unknown datasource "+quote(name)+" (known: "+strings.Join(Names(), ", ")+")")
			continue
		case name == "url" && sel.URL == "":
			problems = append(problems, "berth.datasources: url needs berth.cloud_config_url=URL")
			continue
		case name == "nocloud-net" && all[name].(*URL).Location == "":
			problems = append(problems, "berth.datasources: nocloud-net needs ds=nocloud;s=URL")
			continue
		}
		if u, ok := s.(*URL); ok {
			// A URL that does not parse, or whose pin does not, is left
			// out: it is never fetched unpinned.
			if _, _, err := ParseLocation(u.Location); err != nil {
				problems = append(problems, urlFlag[name]+": "+err.Error()+"; not used")
				continue
			}
		}
		if s.Network() {
			network = append(network, s)
		} else {
			local = append(local, s)
		}
	}
	return local, network, problems
}

// urlFlag names where the URL of a URL source comes from.
var urlFlag = map[string]string{"url": "berth.cloud_config_url", "nocloud-net": "ds=nocloud;s="}

func quote(s string) string { return `"` + s + `"` }

// CheckEntry checks one entry of berth.datasources: a source's name (see
// Names), url:URL with an http or https URL, or file:PATH with an absolute
// path.
func CheckEntry(e string) error {
	if _, isEntry, err := entrySource(e); isEntry {
		return err
	}
	for _, n := range Names() {
		if e == n {
			return nil
		}
	}
	return fmt.Errorf("unknown datasource %s (expected one of %s, url:URL or file:PATH)", quote(e), strings.Join(Names(), ", "))
}

// entrySource is the source of an url: or file: entry; isEntry is false
// for any other (a source's name).
func entrySource(e string) (s Source, isEntry bool, err error) {
	if u, ok := strings.CutPrefix(e, "url:"); ok {
		if _, _, err := ParseLocation(u); errors.Is(err, errNotHTTP) {
			return nil, true, fmt.Errorf("%s: expected url: and an http:// or https:// URL", quote(e))
		} else if err != nil {
			return nil, true, fmt.Errorf("%s: %w", quote(e), err)
		}
		return &URL{SourceName: "url", Location: u}, true, nil
	}
	if f, ok := strings.CutPrefix(e, "file:"); ok {
		if !filepath.IsAbs(f) || filepath.Clean(f) != f {
			return nil, true, fmt.Errorf("%s: expected file: and an absolute, clean path", quote(e))
		}
		return File{SourceName: "file", Path: f}, true, nil
	}
	return nil, false, nil
}

// CloudFromDMI names the cloud whose metadata the DMI tables in dir
// promise: ec2, gce, azure, openstack, vmware (its guestinfo), or "" for
// none.
func CloudFromDMI(dir string) string {
	if dir == "" {
		return ""
	}
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		return strings.TrimSpace(string(b))
	}
	vendor, product, asset := read("sys_vendor"), read("product_name"), read("chassis_asset_tag")
	switch {
	case strings.HasPrefix(vendor, "Amazon EC2") || strings.HasPrefix(read("bios_vendor"), "Amazon EC2"):
		return "ec2"
	case vendor == "Google" || product == "Google Compute Engine":
		return "gce"
	case asset == AzureAssetTag:
		return "azure"
	case strings.HasPrefix(vendor, "VMware"):
		return "vmware"
	case strings.Contains(product, "OpenStack") || strings.Contains(vendor, "OpenStack") || asset == "OpenTelekomCloud":
		return "openstack"
	}
	return ""
}

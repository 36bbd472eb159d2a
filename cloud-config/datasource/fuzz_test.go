package datasource

import (
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// metaDataBound: meta-data comes from the same seed volumes and metadata
// services as user-data, capped at maxBody (16 MiB), and goes through the
// same YAML caps (strictyaml.Unmarshal) or encoding/json. Real meta-data is
// a few hundred bytes and needs under 100 KiB; dense YAML within
// strictyaml.MaxSigns needs about 230 bytes a byte.
var metaDataBound = fuzzmem.Bound{Base: 64 * fuzzmem.MiB, PerByte: 256, Max: 256 * fuzzmem.MiB}

// NoCloud's meta-data (YAML) and OpenStack's meta_data.json never panic
// their readers, are read within metaDataBound, and give keys without the
// blanks around them.
func FuzzMetaData(f *testing.F) {
	for _, s := range []string{
		"instance-id: iid-1\nlocal-hostname: nc1\n",
		"instance-id: iid-1\nhostname: h\npublic-keys: [" + key + ", 'ssh-rsa AAAA x']\n",
		"public-keys: ' " + key + " '\n",
		"public-keys: {a: 1}\ninstance-id: [x]\n",
		`{"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "os1", "name": "n", "public_keys": {"mykey": "` + key + `\n"}}`,
		`{"uuid": 5}`, "", "{", "[", "a: &a [*a]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var nocloud, openstack Data
		fuzzmem.Check(t, metaDataBound, len(data), func() {
			parseNoCloudMeta(data, &nocloud)
			parseOpenStackMeta(data, &openstack)
		})
		for name, d := range map[string]Data{"meta-data": nocloud, "meta_data.json": openstack} {
			for _, k := range d.PublicKeys {
				if k != strings.TrimSpace(k) {
					t.Errorf("%s: public key %q has blanks around it", name, k)
				}
			}
		}
	})
}

// meta-data has user-data's YAML caps: a dense document is refused before
// it is parsed.
func TestMetaDataCaps(t *testing.T) {
	dense := []byte("public-keys: [" + strings.Repeat("a,", 200_001) + "a]\n")
	var err error
	got := fuzzmem.Allocated(func() { err = parseNoCloudMeta(dense, &Data{}) })
	if err == nil || !strings.Contains(err.Error(), "too many nodes: the document has more than 200000 line breaks") {
		t.Errorf("dense meta-data: %v", err)
	}
	if got > 4*fuzzmem.MiB {
		t.Errorf("refusing %d bytes of meta-data allocated %d MiB", len(dense), got>>20)
	}
}

// Package strictyaml decodes YAML into Go values strictly: an unknown key, a
// duplicate key or a value of the wrong type is an error that names the
// source, the line, the field path and what was expected. Every problem in a
// document is reported at once, not only the first.
//
// It walks a yaml.v3 node tree itself (rather than yaml.Decoder.KnownFields)
// so that errors carry a field path such as kernel.cmdline or services[2].name.
package strictyaml

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/storage"
)

// The config file (--config FILE, CUSTODIAN_CONFIG) is a YAML mapping with one key per
// configuration flag: the flag's name with "_" for "-" (--public-url is public_url). The
// keys are derived from the flags, so a configuration flag added later has its key
// without more code. Precedence: defaults, then the file, then the environment, then
// flags.

// configKeys returns the configuration flags by their config-file key: every option of
// sources that has a flag. Command-specific flags (--demo, --tenant …) are not
// configuration and have no key.
func configKeys() map[string]*flag.Flag {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	var scratch options
	var names []string
	for _, s := range sources {
		if s.flag != "" {
			names = append(names, s.flag)
		}
	}
	configFlags(fs, &scratch, names...)
	keys := map[string]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			keys[fileKey(f.Name)] = f
		}
	})
	return keys
}

// valueChecks check a file value as the command checks the option, so that a bad value
// is reported with the file and line (the library's own checks, of the public URL say,
// report it without).
var valueChecks = map[string]func(string) error{
	"addr":           checkAddr,
	"cache-ttl":      checkCacheTTL,
	"log-format":     checkLogFormat,
	"log-level":      checkLogLevel,
	"shutdown-delay": checkShutdownDelay,
	"trusted-proxies": func(v string) error {
		_, err := custodian.ParseTrustedProxies(v)
		return err
	},
	"database": func(v string) error {
		_, _, err := storage.ParseURL(v)
		return err
	},
}

// readConfigFile reads the config file at path and returns the values it sets by key.
// An empty or null value sets nothing, like an empty environment variable. The error
// lists every problem at once, each named with the file and line: an unknown key, a key
// given twice, a value of the wrong type or form. A value with a problem is left out.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil // an empty file sets nothing
	} else if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: want one YAML document", path)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of key: value, got %s", path, root.Line, describe(root))
	}

	keys := configKeys()
	values := map[string]string{}
	seen := map[string]int{}
	var errs []error
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", path, n.Line, fmt.Sprintf(format, args...)))
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], root.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			bad(kn, "want a key, got %s", describe(kn))
			continue
		}
		key := kn.Value
		if line, ok := seen[key]; ok {
			bad(kn, "%s: given twice (first on line %d)", key, line)
			continue
		}
		seen[key] = kn.Line
		f, ok := keys[key]
		if !ok {
			bad(kn, "%s", unknownKey(key, keys))
			continue
		}
		if vn.Kind == yaml.AliasNode && vn.Alias != nil {
			vn = vn.Alias
		}
		if vn.Kind != yaml.ScalarNode {
			bad(vn, "%s: want a single value, got %s", key, describe(vn))
			continue
		}
		if vn.ShortTag() == "!!null" || vn.Value == "" {
			continue
		}
		if isStringFlag(f) && vn.ShortTag() != "!!str" {
			bad(vn, "%s: want a string, got %s (quote it)", key, describe(vn))
			continue
		}
		// The flag's own parser checks the type (true or false, a number …) and then
		// the command's check of the option its form.
		if err := f.Value.Set(vn.Value); err != nil {
			bad(vn, "%s: %v", key, err)
			continue
		}
		if check := valueChecks[f.Name]; check != nil {
			if err := check(vn.Value); err != nil {
				bad(vn, "%s: %v", key, err)
				continue
			}
		}
		values[key] = vn.Value
	}
	return values, errors.Join(errs...)
}

// isStringFlag reports a flag that holds free text.
func isStringFlag(f *flag.Flag) bool {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, isString := g.Get().(string)
	return isString
}

func unknownKey(key string, keys map[string]*flag.Flag) string {
	if k := fileKey(key); k != key {
		if _, ok := keys[k]; ok {
			return fmt.Sprintf("unknown key %q: keys are written with underscores, %s", key, k)
		}
	}
	if key == "config" {
		return `unknown key "config": a config file cannot name another`
	}
	for _, s := range sources {
		if s.flag == "" && key == strings.ToLower(strings.TrimPrefix(s.env, "CUSTODIAN_")) {
			return fmt.Sprintf("unknown key %q: secrets are not read from the config file; set %s in the environment", key, s.env)
		}
	}
	known := make([]string, 0, len(keys))
	for k := range keys {
		known = append(known, k)
	}
	slices.Sort(known)
	return fmt.Sprintf("unknown key %q (known keys: %s)", key, strings.Join(known, ", "))
}

// describe names the kind of a YAML node for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!timestamp":
			return "the date " + n.Value
		case "!!null":
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

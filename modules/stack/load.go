package stack

// Compose loading, as docker/cli's cli/command/stack/loader does it, and
// errors that name the file and line to look at.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/schema"
	composetypes "github.com/docker/cli/cli/compose/types"
	"gopkg.in/yaml.v3"
)

// loadCompose reads compose files the way `docker stack deploy` does
// (cli/command/stack/loader), with interpolation from env only.
func loadCompose(dir string, files []string, env map[string]string) (*composetypes.Config, []string, error) {
	if len(files) == 0 {
		return nil, nil, errors.New("compose: give at least one file")
	}
	var details composetypes.ConfigDetails
	for i, f := range files {
		if !filepath.IsAbs(f) && dir != "" {
			f = filepath.Join(dir, f)
		}
		if i == 0 {
			details.WorkingDir = filepath.Dir(f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := loader.ParseYAML(data)
		if err != nil {
			return nil, nil, yamlSyntaxError(f, data, err)
		}
		details.ConfigFiles = append(details.ConfigFiles, composetypes.ConfigFile{Filename: f, Config: cfg})
	}
	details.Version = schema.Version(details.ConfigFiles[0].Config)
	details.Environment = env
	if details.Environment == nil {
		details.Environment = map[string]string{}
	}
	var dicts []map[string]any
	for _, f := range details.ConfigFiles {
		dicts = append(dicts, f.Config)
	}
	cfg, err := loader.Load(details)
	if err != nil {
		var fpe *loader.ForbiddenPropertiesError
		if errors.As(err, &fpe) {
			return nil, nil, fmt.Errorf("compose file contains unsupported options: %s", strings.Join(sortedKeys(fpe.Properties), ", "))
		}
		return nil, nil, locateComposeError(details.ConfigFiles, err)
	}
	var warnings []string
	if u := loader.GetUnsupportedProperties(dicts...); len(u) > 0 {
		warnings = append(warnings, "ignoring unsupported options: "+strings.Join(u, ", "))
	}
	if d := loader.GetDeprecatedProperties(dicts...); len(d) > 0 {
		warnings = append(warnings, "ignoring deprecated options: "+strings.Join(sortedKeys(d), ", "))
	}
	for _, s := range cfg.Services {
		if s.Image == "" {
			return nil, nil, fmt.Errorf("service %s: no image specified", s.Name)
		}
		if _, err := reference.ParseAnyReference(s.Image); err != nil {
			return nil, nil, fmt.Errorf("service %s: invalid image reference: %w", s.Name, err)
		}
	}
	return cfg, warnings, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError turns a YAML parser error into "FILE:LINE: message".
// The parser names the line where the enclosing block starts ("did not
// find expected key" on a mis-indented key reports the mapping's first
// line); the first line at which the file stops parsing with that same
// error is where to look, so that is the line given.
func yamlSyntaxError(file string, data []byte, err error) error {
	m := yamlLineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	line, msg := m[1], m[2]
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) <= 2000 {
		for n := 1; n <= len(lines); n++ {
			var v any
			if perr := yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &v); perr != nil && perr.Error() == err.Error() {
				if ls := strconv.Itoa(n); ls != line {
					return fmt.Errorf("%s:%s: %s (in the block that starts at line %s)", file, ls, msg, line)
				}
				break
			}
		}
	}
	return fmt.Errorf("%s:%s: %s", file, line, msg)
}

// locateComposeError prefixes a compose schema error ("services.web
// Additional property replicas is not allowed", "services.web.deploy.replicas
// must be a integer") with the file and line of the property it names.
func locateComposeError(files []composetypes.ConfigFile, err error) error {
	msg := err.Error()
	field, rest, ok := strings.Cut(msg, " ")
	if !ok || !(field == "(root)" || strings.Contains(field, ".") || strings.HasPrefix(rest, "Additional property ") || strings.HasPrefix(rest, "must be ")) {
		return onlyFile(files, err)
	}
	var path []string
	if field != "(root)" {
		path = strings.Split(field, ".")
	}
	if p, _, ok := strings.Cut(strings.TrimPrefix(rest, "Additional property "), " is not allowed"); ok && strings.HasPrefix(rest, "Additional property ") {
		path = append(path, p)
	}
	for _, f := range files {
		data, rerr := os.ReadFile(f.Filename)
		if rerr != nil {
			continue
		}
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
			continue
		}
		if line := yamlPathLine(doc.Content[0], path); line > 0 {
			return fmt.Errorf("%s:%d: %s", f.Filename, line, msg)
		}
	}
	return onlyFile(files, err)
}

// onlyFile names the file when there is only one to blame.
func onlyFile(files []composetypes.ConfigFile, err error) error {
	if len(files) == 1 {
		return fmt.Errorf("%s: %w", files[0].Filename, err)
	}
	return err
}

// yamlPathLine returns the line of the key (or item) at path under n, 0
// when the path is not there.
func yamlPathLine(n *yaml.Node, path []string) int {
	line := n.Line
	for _, k := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return 0
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(n.Content) {
				return 0
			}
			n = n.Content[i]
			line = n.Line
		default:
			return 0
		}
	}
	return line
}

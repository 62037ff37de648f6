package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command line in-process and returns its exit code and outputs.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunVersion(t *testing.T) {
	for _, arg := range []string{"version", "-v", "--version"} {
		code, out, _ := runCLI(arg)
		if code != 0 || !strings.HasPrefix(out, "sluice ") || !strings.Contains(out, "Apache APISIX") {
			t.Errorf("%s: code %d, stdout %q", arg, code, out)
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no command", nil, "Usage: sluice"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"validate without a file", []string{"validate"}, "-c FILE is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("code %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

func TestRunValidate(t *testing.T) {
	good := writeConfig(t, "apisix:\n  node_listen: 9080\n")
	code, out, errOut := runCLI("validate", "-c", good)
	if code != 0 || !strings.Contains(out, "configuration is valid") {
		t.Errorf("good file: code %d, stdout %q, stderr %q", code, out, errOut)
	}

	bad := writeConfig(t, "apisix:\n  node_listen: [9080, 9080]\n")
	code, _, errOut = runCLI("validate", "--config", bad)
	if code != 1 || !strings.Contains(errOut, "apisix.node_listen[1]") {
		t.Errorf("bad file: code %d, stderr %q; want 1 and the key apisix.node_listen[1]", code, errOut)
	}
}

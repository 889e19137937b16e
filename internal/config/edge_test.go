package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditlogd/auditlogd/internal/config"
)

// The variables of the HTTP edge: CORS origins, the Playground and its
// assets, and the metrics listener.
func TestLoadEdgeVariables(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CORSOrigins) != 0 || !c.Playground || c.PlaygroundAssets != "" || c.MetricsAddr != "" {
		t.Errorf("defaults: CORS %v, Playground %v, assets %q, metrics %q", c.CORSOrigins, c.Playground, c.PlaygroundAssets, c.MetricsAddr)
	}
	dir := t.TempDir()
	c, err = config.Load(env(map[string]string{
		"AUDITLOG_CORS_ORIGINS":      " https://App.Example.com , http://localhost:3000,https://x.example.com/",
		"AUDITLOG_PLAYGROUND":        "false",
		"AUDITLOG_PLAYGROUND_ASSETS": dir,
		"AUDITLOG_METRICS_ADDR":      "127.0.0.1:9090",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"https://app.example.com", "http://localhost:3000", "https://x.example.com"}, c.CORSOrigins); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
	if c.Playground || c.PlaygroundAssets != dir || c.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("Playground %v, assets %q, metrics %q", c.Playground, c.PlaygroundAssets, c.MetricsAddr)
	}
	for name, v := range map[string]map[string]string{
		"wildcard origin":     {"AUDITLOG_CORS_ORIGINS": "https://*.example.com"},
		"star":                {"AUDITLOG_CORS_ORIGINS": "*"},
		"origin with path":    {"AUDITLOG_CORS_ORIGINS": "https://app.example.com/app"},
		"origin without host": {"AUDITLOG_CORS_ORIGINS": "https://"},
		"not http":            {"AUDITLOG_CORS_ORIGINS": "ftp://app.example.com"},
		"bare host":           {"AUDITLOG_CORS_ORIGINS": "app.example.com"},
		"playground":          {"AUDITLOG_PLAYGROUND": "maybe"},
		"assets not a folder": {"AUDITLOG_PLAYGROUND_ASSETS": dir + "/missing"},
		"metrics address":     {"AUDITLOG_METRICS_ADDR": "nine-thousand"},
	} {
		_, err := config.Load(env(v))
		var ce *config.Error
		var name0 string
		for k := range v {
			name0 = k
		}
		if !errors.As(err, &ce) || ce.Var != name0 || !strings.Contains(err.Error(), name0) {
			t.Errorf("%s: %v; want an error naming %s", name, err, name0)
		}
	}
}

package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/auditlogd/auditlogd/internal/config"
)

// TestLoadLeaseTTL reads AUDITLOG_LEASE_TTL: 15 s by default, and refuses a
// value below a second (renewals every third of it would hammer the
// database) or above ten minutes (a dead replica's job would wait that long).
func TestLoadLeaseTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{{"", 15 * time.Second}, {"4s", 4 * time.Second}, {"10m", 10 * time.Minute}} {
		c, err := config.Load(env(map[string]string{"AUDITLOG_LEASE_TTL": tc.value}))
		if err != nil {
			t.Errorf("AUDITLOG_LEASE_TTL=%q: %v", tc.value, err)
		} else if c.LeaseTTL != tc.want {
			t.Errorf("AUDITLOG_LEASE_TTL=%q: %s, want %s", tc.value, c.LeaseTTL, tc.want)
		}
	}
	for _, bad := range []string{"500ms", "11m", "soon", "-1s"} {
		_, err := config.Load(env(map[string]string{"AUDITLOG_LEASE_TTL": bad}))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != "AUDITLOG_LEASE_TTL" {
			t.Errorf("AUDITLOG_LEASE_TTL=%q: %v, want an error naming the variable", bad, err)
		}
	}
}

// Package conformance runs the upstream Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance) against wsgate. scripts/conformance.sh
// compiles it with `go test -c` and runs the binary with the suite's flags
// (--gateway-class, --conformance-profiles, --report-output, ...).
package conformance

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

// TestConformance is the suite's own entry point, unchanged: wsgate's run differs
// from upstream's only in its flags, so the report is comparable with others'.
func TestConformance(t *testing.T) {
	conformance.RunConformance(t)
}

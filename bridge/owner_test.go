// SPDX-License-Identifier: Apache-2.0

package bridge

import "testing"

func TestAuthOwner(t *testing.T) {
	if AuthOwner("") != "" || AuthOwner("  ") != "" {
		t.Error("no Authorization must give the empty owner")
	}
	a := AuthOwner("Bearer alpha")
	if a == "" || a == AuthOwner("Bearer beta") || a == AuthOwner("Basic alpha") {
		t.Error("different credentials must give different owners")
	}
	if a != AuthOwner("bearer alpha") || a != AuthOwner("BEARER  alpha ") {
		t.Error("the Bearer scheme is case-insensitive")
	}
	if len(a) != 64 || a == "alpha" {
		t.Errorf("owner %q is not a digest", a)
	}
}

//go:build tools

// kubelogin (kubectl oidc-login) at the version the e2e tests pin, built from this module because the Go module
// proxy serves the version but not the module's version list, which `go install pkg@version` needs.
package tools

import _ "github.com/int128/kubelogin"

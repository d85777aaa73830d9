// Package identity is Custodian's neutral domain core: tenants and their settings, the
// audit trail's security events, what a request says about its caller, the shared error
// family and the sealing of secrets at rest. It imports no HTTP, protocol or storage
// library; every other package of Custodian may import it, and it imports none of them
// (docs/architecture.md, enforced by imports_test.go).
package identity

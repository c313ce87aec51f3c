// Package sharedinstall proves the shared-storage install end to end: real processes (the test
// binary re-executed as units) call release.Ensure on one shared root against a loopback release
// server that counts requests. Its tests cover the exactly-once race and SIGKILL crashes; its
// benchmark measures downloads, shared bytes, install time against curl+tar, and peak memory.
//
// The package has no code of its own: everything lives in _test.go files.
package sharedinstall

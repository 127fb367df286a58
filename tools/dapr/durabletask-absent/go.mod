// Stand-in for github.com/dapr/durabletask-go, which the Go module proxy reachable here refuses
// (HTTP 403). It has no packages: see README.md in this directory.
module github.com/dapr/durabletask-go

go 1.24

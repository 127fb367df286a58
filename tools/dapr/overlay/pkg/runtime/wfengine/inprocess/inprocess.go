/*
Copyright 2026 The Dapr Authors
Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at
    http://www.apache.org/licenses/LICENSE-2.0
Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package inprocess is, in this build, a no-op stand-in for Dapr 1.18.3's in-process workflow
// executor (dapr-internal workflows such as MCPServer tool calls).
//
// todo-events/tools/dapr overlays this file onto github.com/dapr/dapr@v1.18.3
// pkg/runtime/wfengine/inprocess/inprocess.go and deletes mcp_registry.go with
// `go build -overlay`: the executor is built on github.com/dapr/durabletask-go, which the Go
// module proxy reachable here refuses. Registering an MCPServer fails with an error.
package inprocess

import (
	"context"
	"errors"

	mcpserverapi "github.com/dapr/dapr/pkg/apis/mcpserver/v1alpha1"
	"github.com/dapr/dapr/pkg/runtime/compstore"
	"github.com/dapr/dapr/pkg/security"
)

// errUnavailable is returned by RegisterMCPServer.
var errUnavailable = errors.New("in-process workflows (MCPServer) are not available in this build: github.com/dapr/durabletask-go is not obtainable here")

// Executor is the no-op in-process executor.
type Executor struct{}

// NewExecutor returns the no-op executor.
func NewExecutor() *Executor {
	return &Executor{}
}

// SetOnMCPTeardown does nothing: no MCPServer is ever registered.
func (e *Executor) SetOnMCPTeardown(func(name string)) {}

// RegisterMCPServer always fails: MCPServer resources need the workflow engine.
func (e *Executor) RegisterMCPServer(context.Context, mcpserverapi.MCPServer, *compstore.ComponentStore, security.Handler) error {
	return errUnavailable
}

// UnregisterMCPServer reports false: nothing was registered.
func (e *Executor) UnregisterMCPServer(string) bool {
	return false
}

// Run blocks until ctx is cancelled.
func (e *Executor) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

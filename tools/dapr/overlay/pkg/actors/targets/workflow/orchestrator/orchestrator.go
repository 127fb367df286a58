/*
Copyright 2023 The Dapr Authors
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

// Package orchestrator is, in this build, only the EventSink type of Dapr 1.18.3's workflow
// orchestrator actor.
//
// todo-events/tools/dapr overlays this file onto github.com/dapr/dapr@v1.18.3
// pkg/actors/targets/workflow/orchestrator/orchestrator.go and deletes the package's other
// files with `go build -overlay`: the actor is built on github.com/dapr/durabletask-go, which
// the Go module proxy reachable here refuses. pkg/runtime (config.go) only needs EventSink.
package orchestrator

// WorkflowMetadata stands in for durabletask-go's backend.WorkflowMetadata, the argument of
// EventSink in Dapr. No event is ever delivered in this build.
type WorkflowMetadata struct{}

// EventSink is the callback type of runtime.Config.WorkflowEventSink (a test hook in Dapr).
// It is never called in this build.
type EventSink func(*WorkflowMetadata)

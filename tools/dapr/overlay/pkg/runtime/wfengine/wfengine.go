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

// Package wfengine is, in this build, a stand-in for Dapr 1.18.3's workflow engine.
//
// todo-events/tools/dapr overlays this file onto github.com/dapr/dapr@v1.18.3
// pkg/runtime/wfengine/wfengine.go (and deletes client.go) with `go build -overlay`, because the
// real engine is built on github.com/dapr/durabletask-go, which the Go module proxy reachable
// here refuses. Every exported identifier the rest of daprd uses is kept with the same type;
// the engine does nothing, its client answers every call with ErrUnavailable (gRPC
// Unimplemented, HTTP 501), and it registers no actor types and no gRPC service.
package wfengine

import (
	"context"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/dapr/components-contrib/workflows"
	workflowacl "github.com/dapr/dapr/pkg/acl/workflow"
	"github.com/dapr/dapr/pkg/actors"
	"github.com/dapr/dapr/pkg/actors/targets/workflow/orchestrator"
	mcpserverapi "github.com/dapr/dapr/pkg/apis/mcpserver/v1alpha1"
	"github.com/dapr/dapr/pkg/config"
	"github.com/dapr/dapr/pkg/messages/errorcodes"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/dapr/dapr/pkg/resiliency"
	"github.com/dapr/dapr/pkg/runtime/compstore"
	"github.com/dapr/dapr/pkg/runtime/processor"
	"github.com/dapr/dapr/pkg/runtime/wfengine/inprocess"
	"github.com/dapr/dapr/pkg/runtime/wfengine/wfregistrar"
	"github.com/dapr/dapr/pkg/security"
	"github.com/dapr/kit/crypto/spiffe/signer"
	kiterrors "github.com/dapr/kit/errors"
	"github.com/dapr/kit/logger"
)

var log = logger.NewLogger("dapr.runtime.wfengine")

// UnavailableMessage is the message of ErrUnavailable.
const UnavailableMessage = "workflows are not available in this build: github.com/dapr/durabletask-go is not obtainable here"

// ErrUnavailable is returned by every workflow operation of this build: gRPC code Unimplemented,
// HTTP status 501, error code ERR_WORKFLOWS_UNAVAILABLE.
var ErrUnavailable = kiterrors.NewBuilder(
	codes.Unimplemented,
	http.StatusNotImplemented,
	UnavailableMessage,
	"",
	string(errorcodes.CategoryWorkflow),
).WithErrorInfo("ERR_WORKFLOWS_UNAVAILABLE", map[string]string{
	"missingModule": "github.com/dapr/durabletask-go",
}).Build()

// ReservedWorkflowNamePrefix is the prefix daprd uses for managed (in-process)
// workflow names (kept from Dapr; unused in this build).
const ReservedWorkflowNamePrefix = "dapr.internal."

// Same values as Dapr's backends/actors package, so the Scheduler sees the same actor types.
const (
	actorTypePrefix      = "dapr.internal."
	workflowNameLabelKey = "workflow"
	activityNameLabelKey = "activity"
)

// Interface is Dapr's workflow engine interface, unchanged.
type Interface interface {
	// Registrar is the consumer-side surface used by the processor to register
	// internal workflows for managed resources (MCPServers, etc.).
	wfregistrar.Registrar

	Run(context.Context) error
	RegisterGrpcServer(*grpc.Server)
	Client() workflows.Workflow
	RuntimeMetadata() *runtimev1pb.MetadataWorkflows
	InProcessExecutor() *inprocess.Executor
	ActivityActorType() string
	WorkflowActorType() string
}

// Options are Dapr's workflow engine options, unchanged; this build only reads AppID, Namespace
// and InProcessExecutor.
type Options struct {
	AppID          string
	Namespace      string
	Actors         actors.Interface
	Spec           *config.WorkflowSpec
	BackendManager processor.WorkflowBackendManager
	Resiliency     resiliency.Provider
	EventSink      orchestrator.EventSink
	ComponentStore *compstore.ComponentStore
	// Security is optional.
	Security          security.Handler
	InProcessExecutor *inprocess.Executor

	EnableClusteredDeployment       bool
	WorkflowsRemoteActivityReminder bool
	WorkflowHistorySigning          bool

	// MaxRequestBodySize is the gRPC server max message size in bytes.
	MaxRequestBodySize int

	// Signer provides cryptographic signing and verification.
	Signer *signer.Signer

	// May be nil when the WorkflowAccessPolicy feature is disabled.
	WorkflowAccessPolicies *workflowacl.Holder
}

// engine is the no-op workflow engine.
type engine struct {
	workflowActorType string
	activityActorType string
	inProcessExec     *inprocess.Executor
	client            unavailableClient
}

// New returns the no-op workflow engine; it never fails.
func New(opts Options) (Interface, error) {
	prefix := actorTypePrefix + opts.Namespace + "." + opts.AppID + "."
	inProcessExec := opts.InProcessExecutor
	if inProcessExec == nil {
		inProcessExec = inprocess.NewExecutor()
	}
	return &engine{
		workflowActorType: prefix + workflowNameLabelKey,
		activityActorType: prefix + activityNameLabelKey,
		inProcessExec:     inProcessExec,
	}, nil
}

// Run logs that workflows are unavailable and blocks until ctx is done.
func (wfe *engine) Run(ctx context.Context) error {
	log.Info("Workflow engine not included in this build (github.com/dapr/durabletask-go is not obtainable here): workflow APIs answer Unimplemented")
	<-ctx.Done()
	return nil
}

// RegisterGrpcServer registers nothing: the Durable Task gRPC service answers Unimplemented.
func (wfe *engine) RegisterGrpcServer(*grpc.Server) {}

// Client returns a client whose every operation fails with ErrUnavailable.
func (wfe *engine) Client() workflows.Workflow {
	return wfe.client
}

// RuntimeMetadata reports no connected workers.
func (wfe *engine) RuntimeMetadata() *runtimev1pb.MetadataWorkflows {
	return &runtimev1pb.MetadataWorkflows{ConnectedWorkers: 0}
}

// InProcessExecutor returns the (no-op) in-process executor.
func (wfe *engine) InProcessExecutor() *inprocess.Executor {
	return wfe.inProcessExec
}

// ActivityActorType returns the name Dapr would give the activity actor type.
func (wfe *engine) ActivityActorType() string {
	return wfe.activityActorType
}

// WorkflowActorType returns the name Dapr would give the workflow actor type.
func (wfe *engine) WorkflowActorType() string {
	return wfe.workflowActorType
}

// EnsureActorsRegistered fails with ErrUnavailable: there are no workflow actors.
func (wfe *engine) EnsureActorsRegistered(context.Context) error {
	return ErrUnavailable
}

// RegisterMCPServer fails with ErrUnavailable (MCPServer resources run as internal workflows).
func (wfe *engine) RegisterMCPServer(context.Context, mcpserverapi.MCPServer, *compstore.ComponentStore, security.Handler) error {
	return ErrUnavailable
}

// UnregisterMCPServer does nothing: no MCPServer is ever registered.
func (wfe *engine) UnregisterMCPServer(string) {}

// unavailableClient implements workflows.Workflow; every operation fails with ErrUnavailable.
type unavailableClient struct{}

func (unavailableClient) Init(workflows.Metadata) error { return ErrUnavailable }

func (unavailableClient) Start(context.Context, *workflows.StartRequest) (*workflows.StartResponse, error) {
	return nil, ErrUnavailable
}

func (unavailableClient) Terminate(context.Context, *workflows.TerminateRequest) error {
	return ErrUnavailable
}

func (unavailableClient) Get(context.Context, *workflows.GetRequest) (*workflows.StateResponse, error) {
	return nil, ErrUnavailable
}

func (unavailableClient) RaiseEvent(context.Context, *workflows.RaiseEventRequest) error {
	return ErrUnavailable
}

func (unavailableClient) Purge(context.Context, *workflows.PurgeRequest) error {
	return ErrUnavailable
}

func (unavailableClient) Pause(context.Context, *workflows.PauseRequest) error {
	return ErrUnavailable
}

func (unavailableClient) Resume(context.Context, *workflows.ResumeRequest) error {
	return ErrUnavailable
}

func (unavailableClient) Close() error { return nil }

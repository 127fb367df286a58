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

// This file replaces github.com/dapr/dapr@v1.18.3 pkg/api/universal/workflow.go in the daprd
// built by todo-events/tools/dapr (`go build -overlay`): the workflow engine is compiled out
// because github.com/dapr/durabletask-go is not obtainable here, so every Workflow API handler
// (v1.0, beta1, alpha1; HTTP and gRPC) answers wfengine.ErrUnavailable: gRPC Unimplemented,
// HTTP 501, errorCode ERR_WORKFLOWS_UNAVAILABLE. The method set is Dapr's, unchanged.

package universal

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/dapr/dapr/pkg/runtime/wfengine"
)

// workflowsUnavailable logs and returns the error of every workflow operation.
func (a *Universal) workflowsUnavailable(op string) error {
	a.logger.Debugf("%s: %s", op, wfengine.UnavailableMessage)
	return wfengine.ErrUnavailable
}

// GetWorkflow is the API handler for getting workflow details; it fails with wfengine.ErrUnavailable.
func (a *Universal) GetWorkflow(ctx context.Context, in *runtimev1pb.GetWorkflowRequest) (*runtimev1pb.GetWorkflowResponse, error) {
	return &runtimev1pb.GetWorkflowResponse{}, a.workflowsUnavailable("GetWorkflow")
}

// StartWorkflow is the API handler for starting a workflow; it fails with wfengine.ErrUnavailable.
func (a *Universal) StartWorkflow(ctx context.Context, in *runtimev1pb.StartWorkflowRequest) (*runtimev1pb.StartWorkflowResponse, error) {
	return &runtimev1pb.StartWorkflowResponse{}, a.workflowsUnavailable("StartWorkflow")
}

// TerminateWorkflow is the API handler for terminating a workflow; it fails with wfengine.ErrUnavailable.
func (a *Universal) TerminateWorkflow(ctx context.Context, in *runtimev1pb.TerminateWorkflowRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, a.workflowsUnavailable("TerminateWorkflow")
}

// RaiseEventWorkflow is the API handler for raising an event to a workflow; it fails with wfengine.ErrUnavailable.
func (a *Universal) RaiseEventWorkflow(ctx context.Context, in *runtimev1pb.RaiseEventWorkflowRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, a.workflowsUnavailable("RaiseEventWorkflow")
}

// PauseWorkflow is the API handler for pausing a workflow; it fails with wfengine.ErrUnavailable.
func (a *Universal) PauseWorkflow(ctx context.Context, in *runtimev1pb.PauseWorkflowRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, a.workflowsUnavailable("PauseWorkflow")
}

// ResumeWorkflow is the API handler for resuming a workflow; it fails with wfengine.ErrUnavailable.
func (a *Universal) ResumeWorkflow(ctx context.Context, in *runtimev1pb.ResumeWorkflowRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, a.workflowsUnavailable("ResumeWorkflow")
}

// PurgeWorkflow is the API handler for purging a workflow; it fails with wfengine.ErrUnavailable.
func (a *Universal) PurgeWorkflow(ctx context.Context, in *runtimev1pb.PurgeWorkflowRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, a.workflowsUnavailable("PurgeWorkflow")
}

// GetWorkflowBeta1 is the API handler for getting workflow details.
func (a *Universal) GetWorkflowBeta1(ctx context.Context, in *runtimev1pb.GetWorkflowRequest) (*runtimev1pb.GetWorkflowResponse, error) {
	return a.GetWorkflow(ctx, in)
}

// StartWorkflowBeta1 is the API handler for starting a workflow.
func (a *Universal) StartWorkflowBeta1(ctx context.Context, in *runtimev1pb.StartWorkflowRequest) (*runtimev1pb.StartWorkflowResponse, error) {
	return a.StartWorkflow(ctx, in)
}

// TerminateWorkflowBeta1 is the API handler for terminating a workflow.
func (a *Universal) TerminateWorkflowBeta1(ctx context.Context, in *runtimev1pb.TerminateWorkflowRequest) (*emptypb.Empty, error) {
	return a.TerminateWorkflow(ctx, in)
}

// RaiseEventWorkflowBeta1 is the API handler for raising an event to a workflow.
func (a *Universal) RaiseEventWorkflowBeta1(ctx context.Context, in *runtimev1pb.RaiseEventWorkflowRequest) (*emptypb.Empty, error) {
	return a.RaiseEventWorkflow(ctx, in)
}

// PauseWorkflowBeta1 is the API handler for pausing a workflow.
func (a *Universal) PauseWorkflowBeta1(ctx context.Context, in *runtimev1pb.PauseWorkflowRequest) (*emptypb.Empty, error) {
	return a.PauseWorkflow(ctx, in)
}

// ResumeWorkflowBeta1 is the API handler for resuming a workflow.
func (a *Universal) ResumeWorkflowBeta1(ctx context.Context, in *runtimev1pb.ResumeWorkflowRequest) (*emptypb.Empty, error) {
	return a.ResumeWorkflow(ctx, in)
}

// PurgeWorkflowBeta1 is the API handler for purging a workflow.
func (a *Universal) PurgeWorkflowBeta1(ctx context.Context, in *runtimev1pb.PurgeWorkflowRequest) (*emptypb.Empty, error) {
	return a.PurgeWorkflow(ctx, in)
}

// GetWorkflowAlpha1 is the API handler for getting workflow details.
//
// Deprecated: Use GetWorkflow instead.
func (a *Universal) GetWorkflowAlpha1(ctx context.Context, in *runtimev1pb.GetWorkflowRequest) (*runtimev1pb.GetWorkflowResponse, error) {
	return a.GetWorkflow(ctx, in)
}

// StartWorkflowAlpha1 is the API handler for starting a workflow.
//
// Deprecated: Use StartWorkflow instead.
func (a *Universal) StartWorkflowAlpha1(ctx context.Context, in *runtimev1pb.StartWorkflowRequest) (*runtimev1pb.StartWorkflowResponse, error) {
	return a.StartWorkflow(ctx, in)
}

// TerminateWorkflowAlpha1 is the API handler for terminating a workflow.
//
// Deprecated: Use TerminateWorkflow instead.
func (a *Universal) TerminateWorkflowAlpha1(ctx context.Context, in *runtimev1pb.TerminateWorkflowRequest) (*emptypb.Empty, error) {
	return a.TerminateWorkflow(ctx, in)
}

// RaiseEventWorkflowAlpha1 is the API handler for raising an event to a workflow.
//
// Deprecated: Use RaiseEventWorkflow instead.
func (a *Universal) RaiseEventWorkflowAlpha1(ctx context.Context, in *runtimev1pb.RaiseEventWorkflowRequest) (*emptypb.Empty, error) {
	return a.RaiseEventWorkflow(ctx, in)
}

// PauseWorkflowAlpha1 is the API handler for pausing a workflow.
//
// Deprecated: Use PauseWorkflow instead.
func (a *Universal) PauseWorkflowAlpha1(ctx context.Context, in *runtimev1pb.PauseWorkflowRequest) (*emptypb.Empty, error) {
	return a.PauseWorkflow(ctx, in)
}

// ResumeWorkflowAlpha1 is the API handler for resuming a workflow.
//
// Deprecated: Use ResumeWorkflow instead.
func (a *Universal) ResumeWorkflowAlpha1(ctx context.Context, in *runtimev1pb.ResumeWorkflowRequest) (*emptypb.Empty, error) {
	return a.ResumeWorkflow(ctx, in)
}

// PurgeWorkflowAlpha1 is the API handler for purging a workflow.
//
// Deprecated: Use PurgeWorkflow instead.
func (a *Universal) PurgeWorkflowAlpha1(ctx context.Context, in *runtimev1pb.PurgeWorkflowRequest) (*emptypb.Empty, error) {
	return a.PurgeWorkflow(ctx, in)
}

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

package main

// The components this project's daprd can load. Each registration is copied from the matching file
// of github.com/dapr/dapr@v1.18.3 cmd/daprd/components/ (named in the comment above it), so the
// component type names and versions are the same as in the official daprd.

import (
	"github.com/dapr/components-contrib/bindings/cron"
	bindingspg "github.com/dapr/components-contrib/bindings/postgres"
	"github.com/dapr/components-contrib/bindings/smtp"
	nrkubernetes "github.com/dapr/components-contrib/nameresolution/kubernetes"
	"github.com/dapr/components-contrib/nameresolution/mdns"
	pubsubinmemory "github.com/dapr/components-contrib/pubsub/in-memory"
	"github.com/dapr/components-contrib/pubsub/kafka"
	sskubernetes "github.com/dapr/components-contrib/secretstores/kubernetes"
	"github.com/dapr/components-contrib/secretstores/local/env"
	"github.com/dapr/components-contrib/secretstores/local/file"
	stateinmemory "github.com/dapr/components-contrib/state/in-memory"
	pgv1 "github.com/dapr/components-contrib/state/postgresql/v1"
	pgv2 "github.com/dapr/components-contrib/state/postgresql/v2"
	"github.com/dapr/dapr/pkg/components"
	bindingsLoader "github.com/dapr/dapr/pkg/components/bindings"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	secretstoresLoader "github.com/dapr/dapr/pkg/components/secretstores"
	stateLoader "github.com/dapr/dapr/pkg/components/state"
)

func init() {
	// pubsub_kafka.go: pubsub.kafka
	pubsubLoader.DefaultRegistry.RegisterComponent(kafka.NewKafka, "kafka")
	// pubsub_in-memory.go: pubsub.in-memory (tests)
	pubsubLoader.DefaultRegistry.RegisterComponent(pubsubinmemory.New, "in-memory")

	// state_postgres.go: state.postgres / state.postgresql, v1 (default) and v2. The yugabytedb
	// aliases that file also registers are left out.
	for _, name := range []string{"postgres", "postgresql"} {
		stateLoader.DefaultRegistry.RegisterComponentWithVersions(name, components.Versioning{
			Preferred: components.VersionConstructor{
				Version: "v2", Constructor: pgv2.NewPostgreSQLStateStore,
			},
			Others: []components.VersionConstructor{
				{Version: "v1", Constructor: pgv1.NewPostgreSQLStateStore},
			},
			Default: "v1",
		})
	}
	// state_in-memory.go: state.in-memory (tests)
	stateLoader.DefaultRegistry.RegisterComponent(stateinmemory.NewInMemoryStateStore, "in-memory")

	// bindings_postgres.go: bindings.postgres / bindings.postgresql (output)
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(bindingspg.NewPostgres, "postgres", "postgresql")
	// bindings_smtp.go: bindings.smtp (output; the notification service's email channel)
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(smtp.NewSMTP, "smtp")
	// bindings_cron.go: bindings.cron (input)
	bindingsLoader.DefaultRegistry.RegisterInputBinding(cron.NewCron, "cron")

	// secretstores_local_env.go and secretstores_local_file.go: secretstores.local.env / .file
	secretstoresLoader.DefaultRegistry.RegisterComponent(env.NewEnvSecretStore, "local.env")
	secretstoresLoader.DefaultRegistry.RegisterComponent(file.NewLocalSecretStore, "local.file")
	// secretstores_kubernetes.go: secretstores.kubernetes. In Kubernetes mode daprd preloads a
	// store named "kubernetes" of this type (pkg/runtime/runtime.go); the Components' secretKeyRefs
	// (contracts/dapr-components/local, cloud) are resolved through it. Without the registration
	// daprd in a pod fails to load the built-in store and every secretKeyRef.
	secretstoresLoader.DefaultRegistry.RegisterComponent(sskubernetes.NewKubernetesSecretStore, "kubernetes")

	// nameresolution_mdns.go: self-hosted daprd's default name resolver. Without it daprd logs an
	// error at start-up and service invocation between app-ids cannot resolve anything.
	nrLoader.DefaultRegistry.RegisterComponent(mdns.NewResolver, "mdns")
	// nameresolution_kubernetes.go: daprd's default resolver in Kubernetes mode (app-id ->
	// <app-id>-dapr.<namespace>.svc.cluster.local, the Service the injector's operator makes).
	nrLoader.DefaultRegistry.RegisterComponent(nrkubernetes.NewResolver, "kubernetes")
}

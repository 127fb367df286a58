//! `todo-host --preinit IN --preinit-output OUT`: pre-initialises a component at build time with
//! `wasmtime-wizer`: instantiates it (WASI, `wasi:http` with every outbound request denied, no
//! variables), calls its `wizer-initialize` export once, and writes a component whose memory
//! starts as that call left it. The consumers compile their JSON Schema validators there, so a
//! request does not (docs/faults.md, "Load"). The output is an ordinary component: Spin
//! and SpinKube run it unchanged.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::limits::Limits;
use crate::outbound::OutboundPolicy;
use crate::{linker, State, Vars};

/// Snapshots `input` after its `wizer-initialize` ran; writes the result to `output`.
pub async fn preinit(input: &Path, output: &Path) -> Result<()> {
    let wasm = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let engine = Engine::new(&Config::new()).map_err(anyhow::Error::from)?;
    let linker = linker(&engine)?;
    let mut store = Store::new(
        &engine,
        State {
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundPolicy {
                component: "preinit".into(),
                allowed: Arc::new(Err("pre-initialisation makes no outbound requests".into())),
            },
            vars: Vars(Arc::new(HashMap::new())),
            limits: Limits::unlimited(),
        },
    );
    // The export stays: with it removed, wasmtime-wizer 48.0.8 leaves the component-level export
    // pointing at the core export it deleted ("core instance N has no export named
    // `wizer-initialize`"). Calling it again only finds the validators compiled.
    let (snapshot, _) = wasmtime_wizer::Wizer::new()
        .keep_init_func(true)
        .run_component(&mut store, &wasm, async |store, component| {
            linker.instantiate_async(store, component).await
        })
        .await
        .map_err(anyhow::Error::from)
        .with_context(|| format!("pre-initialising {}", input.display()))?;
    let tmp = output.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &snapshot).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, output).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "preinit: {} ({} bytes) -> {} ({} bytes)",
        input.display(),
        wasm.len(),
        output.display(),
        snapshot.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use wasmtime::component::Component;

    /// A component `tools/devstack/setup.sh build` made (cargo's output, before pre-initialising).
    fn built(name: &str) -> PathBuf {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| crate::crate_dir().join("../../target"), PathBuf::from);
        let path = target.join(format!("wasm32-wasip2/release/{name}.wasm"));
        assert!(
            path.exists(),
            "{} is missing: build the components first (tools/devstack/setup.sh build)",
            path.display()
        );
        path
    }

    fn exports(wasm: &[u8]) -> Vec<String> {
        let engine = Engine::new(&Config::new()).unwrap();
        let component = Component::new(&engine, wasm).expect("the snapshot is a valid component");
        component
            .component_type()
            .exports(&engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    #[tokio::test]
    async fn a_consumer_is_snapshotted_into_a_component_that_still_serves_http() {
        let input = built("audit");
        let out = std::env::temp_dir().join(format!("preinit-test-{}.wasm", std::process::id()));
        preinit(&input, &out).await.unwrap();
        let before = std::fs::read(&input).unwrap();
        let after = std::fs::read(&out).unwrap();
        std::fs::remove_file(&out).ok();
        // The compiled validators are heap data now part of the image.
        assert!(
            after.len() > before.len() + 64 * 1024,
            "snapshot {} bytes, input {} bytes",
            after.len(),
            before.len()
        );
        let names = exports(&after);
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("wasi:http/incoming-handler")),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n == "wizer-initialize"), "{names:?}");
    }

    #[tokio::test]
    async fn a_component_without_the_export_is_refused_by_name() {
        let out = std::env::temp_dir().join(format!("preinit-web-{}.wasm", std::process::id()));
        let err = preinit(&built("web"), &out).await.unwrap_err();
        assert!(!out.exists());
        assert!(format!("{err:#}").contains("wizer-initialize"), "{err:#}");
    }
}

//! `todo-host`: serves a Spin app's HTTP components (`spin.toml`, manifest version 2) on wasmtime,
//! the way `spin up` would, for the project's tests and zero-install runs. One fresh instance per
//! request (pooling allocator), bounded in memory and time ([`limits`]); compiled components
//! cached on disk; a shutdown lets the requests in flight finish.

mod limits;
mod manifest;
mod outbound;
mod preinit;
mod routes;
mod template;

use anyhow::{bail, Context, Result};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use limits::Limits;
use manifest::App;
use outbound::{AllowedHosts, OutboundPolicy};
use routes::WELL_KNOWN_PREFIX;

/// `wasi:config/store@0.2.0-draft-2024-09-27`, the interface Spin serves component variables on
/// (wasmtime-wasi-config serves another version of it).
#[allow(missing_docs)]
mod config {
    wasmtime::component::bindgen!({
        inline: "
        package wasi:config@0.2.0-draft-2024-09-27;
        interface store {
            variant error { upstream(string), io(string) }
            get: func(key: string) -> result<option<string>, error>;
            get-all: func() -> result<list<tuple<string, string>>, error>;
        }
        world config-imports { import store; }
    ",
    });
}
use config::wasi::config::store as config_store;

#[derive(Parser)]
#[command(about = "Serve a Spin app's HTTP components on wasmtime")]
struct Cli {
    /// Path of the app manifest.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    from: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "TODO_HOST_LISTEN")]
    listen: SocketAddr,
    /// Folder for compiled components (keyed by wasmtime version, engine settings and `.wasm` hash).
    #[arg(long, env = "TODO_HOST_CACHE")]
    cache: Option<PathBuf>,
    /// Compile (or load from the cache) every component, then exit.
    #[arg(long)]
    precompile: bool,
    /// Serve only this component (repeatable), like `spin up --component-id`.
    #[arg(long = "component-id", short = 'c')]
    component_id: Vec<String>,
    /// Instead of serving: pre-initialise this component (its `wizer-initialize` export) and
    /// write the snapshot to `--preinit-output`.
    #[arg(long, requires = "preinit_output")]
    preinit: Option<PathBuf>,
    /// Where `--preinit` writes the pre-initialised component.
    #[arg(long, requires = "preinit")]
    preinit_output: Option<PathBuf>,
    /// Most linear memory an instance may grow to, in bytes (Spin's `--max-instance-memory`);
    /// past it the request traps and is answered 500.
    #[arg(long, env = "SPIN_MAX_INSTANCE_MEMORY", default_value_t = 256 << 20)]
    max_instance_memory: usize,
    /// How long a component may take to answer a request: seconds, or with `ms`, `us`, `ns`
    /// (Spin's `--request-timeout` syntax; Spin applies it to WASIp3 components only, this host
    /// to every component). Past it the request is answered 504.
    #[arg(long, env = "TODO_HOST_REQUEST_TIMEOUT", default_value = "60s", value_parser = limits::parse_duration)]
    request_timeout: Duration,
    /// How long SIGTERM or Ctrl-C waits for the requests in flight before the host exits.
    #[arg(long, env = "TODO_HOST_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = limits::parse_duration)]
    shutdown_timeout: Duration,
}

/// Per-request store data: WASI, `wasi:http` with the component's outbound policy, its variables
/// and its limits.
struct State {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundPolicy,
    vars: Vars,
    limits: Limits,
}

/// A component's variables, served through `wasi:config/store@0.2.0-draft-2024-09-27`.
struct Vars(Arc<HashMap<String, String>>);

impl config_store::Host for Vars {
    fn get(&mut self, key: String) -> Result<Option<String>, config_store::Error> {
        Ok(self.0.get(&key).cloned())
    }
    fn get_all(&mut self) -> Result<Vec<(String, String)>, config_store::Error> {
        Ok(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A component ready to serve: pre-instantiated, with what each request's store needs.
struct Served {
    id: Arc<str>,
    pre: ProxyPre<State>,
    allowed: Arc<Result<AllowedHosts, String>>,
    vars: Arc<HashMap<String, String>>,
    environment: Vec<(String, String)>,
}

struct Server {
    app: App,
    served: Vec<Served>,
    max_memory: usize,
    timeout: Duration,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let (Some(input), Some(output)) = (&cli.preinit, &cli.preinit_output) {
        return preinit::preinit(input, output).await;
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut app = App::load(&cli.from, &env, &cli.component_id)?;
    for w in &app.warnings {
        eprintln!("ERROR {w}");
    }
    let engine = engine()?;
    let cache = cli
        .cache
        .unwrap_or_else(|| dirs_cache().join("todo-events/host-cache"));
    let linker = linker(&engine)?;
    let mut served = Vec::new();
    for spec in std::mem::take(&mut app.components) {
        let started = std::time::Instant::now();
        let component = load_component(&engine, &spec.source, &cache)
            .with_context(|| format!("component `{}`", spec.id))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "component `{}` is not a wasi:http handler this host can serve",
                    spec.id
                )
            })?;
        eprintln!(
            "loaded `{}` from {} in {:?}",
            spec.id,
            spec.source.display(),
            started.elapsed()
        );
        if let Err(reason) = &spec.allowed {
            // Spin loads such a component too, and denies every request it makes.
            eprintln!(
                "ERROR [{}] Error parsing allowed outbound hosts err={reason}: every outbound request of this component will be denied",
                spec.id
            );
        }
        served.push(Served {
            id: spec.id.as_str().into(),
            pre,
            allowed: Arc::new(spec.allowed),
            vars: Arc::new(spec.variables),
            environment: spec.environment,
        });
    }
    if cli.precompile {
        return Ok(());
    }
    limits::start_ticker(engine.clone());
    let server = Server {
        app,
        served,
        max_memory: cli.max_instance_memory,
        timeout: cli.request_timeout,
    };
    serve(Arc::new(server), cli.listen, cli.shutdown_timeout).await
}

/// This crate's folder when a test runs (cargo sets `CARGO_MANIFEST_DIR`), not when it was
/// built: a shared target folder can hold a test binary another checkout built.
#[cfg(test)]
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn dirs_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

/// The engine: Cranelift, pooling allocator sized for a small app.
fn engine() -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(256)
        .total_core_instances(1024)
        .total_memories(256)
        .total_tables(512)
        .total_stacks(256);
    pool.max_memory_size(512 << 20);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // The request deadline interrupts a component's own code (limits::start_ticker).
    config.epoch_interruption(true);
    Ok(Engine::new(&config)?)
}

/// The imports a Spin HTTP component may use: WASI p2, `wasi:http`, and `wasi:config/store`.
fn linker(engine: &Engine) -> Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    config_store::add_to_linker::<State, HasSelf<Vars>>(&mut linker, |s| &mut s.vars)?;
    Ok(linker)
}

/// Loads a compiled component from the cache, or compiles and caches it.
fn load_component(engine: &Engine, source: &Path, cache: &Path) -> Result<Component> {
    use sha2::{Digest, Sha256};
    use std::hash::{Hash, Hasher};
    let wasm = std::fs::read(source)
        .with_context(|| format!("reading {} (built yet?)", source.display()))?;
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let key = Sha256::new()
        .chain_update(env!("CARGO_PKG_VERSION"))
        .chain_update(env!("WASMTIME_VERSION"))
        .chain_update(engine_hash.finish().to_le_bytes())
        .chain_update(&wasm)
        .finalize();
    let path = cache.join(format!("{key:x}.cwasm"));
    if path.exists() {
        #[allow(unsafe_code)]
        // SAFETY: the file was written by `Component::serialize` of this wasmtime version with
        // these engine settings (both are in its name); nobody else writes into this folder.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(c);
        }
    }
    let component = Component::new(engine, &wasm)?;
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(component)
}

/// The accept loop: HTTP/1.1, one task per connection. SIGTERM or Ctrl-C stops accepting, lets
/// the requests in flight finish (idle keep-alive connections close at once) for up to `drain`,
/// then returns.
async fn serve(server: Arc<Server>, addr: SocketAddr, drain: Duration) -> Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    // What `spin up` prints (crates/trigger-http/src/server.rs, `print_startup_msgs`).
    let base = format!("http://{}", listener.local_addr()?);
    println!("\nServing {base}\nAvailable Routes:");
    for (path, component, wildcard) in server.app.router.listing() {
        let suffix = if *wildcard { " (wildcard)" } else { "" };
        println!("  {}: {base}{path}{suffix}", server.served[*component].id);
    }
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
    };
    tokio::pin!(shutdown);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut shutdown => break,
        };
        let server = server.clone();
        let service = hyper::service::service_fn(move |req| {
            let server = server.clone();
            async move { server.handle(req, peer).await }
        });
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                eprintln!("connection from {peer}: {e}");
            }
        });
    }
    drop(listener);
    eprintln!("shutting down: waiting up to {drain:?} for the requests in flight");
    tokio::select! {
        _ = graceful.shutdown() => eprintln!("every request answered; bye"),
        _ = tokio::time::sleep(drain) => eprintln!("requests still in flight after {drain:?}; exiting"),
    }
    Ok(())
}

impl Server {
    /// Routes one request to its component and runs it in a fresh instance.
    async fn handle(
        &self,
        mut req: hyper::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let path = req.uri().path().to_string();
        // Spin's own endpoints (crates/trigger-http/src/server.rs, `handle`).
        if let Some(rest) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            return Ok(match rest {
                "health" => text(200, "OK", "text/plain"),
                "info" => {
                    let mut info = serde_json::json!({ "name": self.app.name });
                    if let Some(v) = &self.app.version {
                        info["version"] = v.clone().into();
                    }
                    text(200, info.to_string(), "application/json")
                }
                _ => text(404, String::new(), ""),
            });
        }
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let scheme = req.uri().scheme_str().unwrap_or("http");
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let full_url = format!("{scheme}://{host}{path_and_query}");
        let Some(m) = self.app.router.route(&path, &full_url, &peer.to_string()) else {
            return Ok(text(404, String::new(), ""));
        };
        let served = &self.served[m.component];
        // Like Spin, the component gets the client's headers and then Spin's own.
        for (name, value) in m.headers {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                req.headers_mut().append(n, v);
            }
        }
        match self.run(served, req).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                eprintln!("[{}] {path}: {e:?}", served.id);
                Ok(text(500, "Internal Server Error", "text/plain"))
            }
        }
    }

    async fn run(
        &self,
        served: &Served,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout()
            .inherit_stderr()
            .envs(&served.environment);
        let mut store = Store::new(
            served.pre.engine(),
            State {
                table: ResourceTable::new(),
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                hooks: OutboundPolicy {
                    component: served.id.clone(),
                    allowed: served.allowed.clone(),
                },
                vars: Vars(served.vars.clone()),
                limits: Limits::new(self.max_memory),
            },
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(limits::deadline_ticks(self.timeout));
        store.epoch_deadline_trap();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = served.pre.clone();
        let task = tokio::spawn(async move {
            let result = match pre.instantiate_async(&mut store).await {
                Ok(proxy) => {
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, req, out)
                        .await
                }
                Err(e) => Err(e),
            };
            (result, store.data().limits.exceeded)
        });
        let answered = match tokio::time::timeout(self.timeout, receiver).await {
            Ok(answered) => answered,
            Err(_) => {
                task.abort();
                return Ok(limit_problem(
                    504,
                    "request-timeout",
                    "Gateway Timeout",
                    format!("the component did not answer within {:?}", self.timeout),
                ));
            }
        };
        match answered {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(code)) => bail!("component answered with error {code:?}"),
            Err(_) => match task.await {
                Ok((Ok(()), _)) => bail!("component never set a response"),
                Ok((Err(e), Some(size))) => {
                    eprintln!("[{}] {e:?}", served.id);
                    Ok(limit_problem(
                        500,
                        "memory-limit",
                        "Internal Server Error",
                        format!(
                            "the component needed {size} bytes of memory; an instance may use {}",
                            self.max_memory
                        ),
                    ))
                }
                Ok((Err(e), None)) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                    eprintln!("[{}] interrupted after {:?}", served.id, self.timeout);
                    Ok(limit_problem(
                        504,
                        "request-timeout",
                        "Gateway Timeout",
                        format!("the component ran past {:?}", self.timeout),
                    ))
                }
                Ok((Err(e), None)) => {
                    Err(anyhow::Error::from(e).context("component trapped before responding"))
                }
                Err(e) => Err(e.into()),
            },
        }
    }
}

/// An RFC 9457 problem of the host itself: a limit the request ran into.
fn limit_problem(
    status: u16,
    kind: &'static str,
    title: &'static str,
    detail: String,
) -> hyper::Response<HyperOutgoingBody> {
    let problem = todo_problem::Problem {
        status,
        kind,
        title,
        detail,
        errors: Vec::new(),
    };
    text(status, problem.body(), todo_problem::PROBLEM_CONTENT_TYPE)
}

fn text(
    status: u16,
    body: impl Into<hyper::body::Bytes>,
    content_type: &str,
) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::builder().status(status);
    if !content_type.is_empty() {
        resp = resp.header("content-type", content_type);
    }
    resp.body(body).expect("static response")
}

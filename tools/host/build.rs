//! The wasmtime version this host is built with, read from the workspace's Cargo.lock (the one
//! place it is written), for the key of the compiled-component cache.

fn main() {
    // At run time, not env!(): cargo reuses a compiled build script across checkouts that share a
    // target directory, so a path baked in at compile time names another checkout's lock file.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let lock = std::path::Path::new(&dir).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).expect("reading the workspace's Cargo.lock");
    let version = text
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasmtime\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .and_then(|v| v.strip_suffix('"'))
        .expect("Cargo.lock names a wasmtime package with a version");
    println!("cargo:rustc-env=WASMTIME_VERSION={version}");
}

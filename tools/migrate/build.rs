//! Rebuild when a migration file is added or changed (they are embedded by `embed_migrations!`).

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}

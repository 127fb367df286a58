//! The project's versioned SQL migrations (`migrations/V<n>__<name>.sql`), embedded at build time
//! and applied with refinery. Applying them twice is a no-op: refinery records each applied
//! version in `refinery_schema_history` and checks the applied files' checksums.

use std::sync::Arc;

use anyhow::{Context, Result};
use postgres::Client;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// One migration that exists in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    /// Version number (`V<n>`).
    pub version: i64,
    /// Name after the `__`.
    pub name: String,
}

/// The migrations embedded in this build, in version order.
pub fn migrations() -> Vec<MigrationInfo> {
    let mut list: Vec<MigrationInfo> = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| MigrationInfo {
            version: i64::from(m.version()),
            name: m.name().to_owned(),
        })
        .collect();
    list.sort_by_key(|m| m.version);
    list
}

/// Applies every pending migration (each in its own transaction) and answers the ones applied by
/// this call; empty when the database was already up to date.
pub fn apply(client: &mut Client) -> Result<Vec<MigrationInfo>> {
    let report = embedded::migrations::runner()
        .set_grouped(false)
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run(client)
        .context("applying migrations")?;
    let mut applied: Vec<MigrationInfo> = report
        .applied_migrations()
        .iter()
        .map(|m| MigrationInfo {
            version: i64::from(m.version()),
            name: m.name().to_owned(),
        })
        .collect();
    applied.sort_by_key(|m| m.version);
    Ok(applied)
}

/// The highest version recorded in the database's migration history, if any.
pub fn current_version(client: &mut Client) -> Result<Option<i64>> {
    let last = embedded::migrations::runner()
        .get_last_applied_migration(client)
        .context("reading the migration history")?;
    Ok(last.map(|m| i64::from(m.version())))
}

/// Connects to `url` (a `postgres://` URL or key=value string). `sslmode=disable` connects in
/// plain text; `prefer` (the default) and `require` use TLS when the server offers it, verified
/// against Mozilla's root certificates (webpki-roots).
pub fn connect(url: &str) -> Result<Client> {
    let config: postgres::Config = url.parse().context("parsing the PostgreSQL URL")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
    config
        .connect(connector)
        .context("connecting to PostgreSQL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_every_migration_file_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort_by_key(|n| n[1..n.find("__").unwrap()].parse::<i64>().unwrap());
        let embedded: Vec<String> = migrations()
            .iter()
            .map(|m| format!("V{}__{}.sql", m.version, m.name))
            .collect();
        assert_eq!(embedded, files);
        let versions: Vec<i64> = migrations().iter().map(|m| m.version).collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected, "versions are 1, 2, 3, ... without gaps");
    }
}

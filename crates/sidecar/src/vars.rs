//! Component variables through `wasi:config/store@0.2.0-draft-2024-09-27`, the interface Spin 3.x
//! and 4.x serve for `[component.<id>.variables]`.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        inline: "
            package wasi:config@0.2.0-draft-2024-09-27;
            interface store {
                variant error { upstream(string), io(string) }
                get: func(key: string) -> result<option<string>, error>;
                get-all: func() -> result<list<tuple<string, string>>, error>;
            }
            world imports { import store; }
        ",
        world: "imports",
    });
}

use bindings::wasi::config::store;

/// Why a variable could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VarError {
    /// The component has no variable of that name (or it is empty).
    #[error("variable `{0}` is not set for this component")]
    Missing(String),
    /// The host's config store failed.
    #[error("reading variable `{0}`: {1}")]
    Store(String, String),
}

/// The value of a component variable; an empty value counts as missing.
pub fn get(name: &str) -> Result<String, VarError> {
    match store::get(name) {
        Ok(Some(v)) if !v.is_empty() => Ok(v),
        Ok(_) => Err(VarError::Missing(name.to_string())),
        Err(store::Error::Upstream(e) | store::Error::Io(e)) => {
            Err(VarError::Store(name.to_string(), e))
        }
    }
}

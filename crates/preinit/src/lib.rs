//! The `wizer-initialize` export of a component that is pre-initialised at build time.
//!
//! `todo-host --preinit IN --preinit-output OUT` (tools/host) instantiates the component, calls
//! this export once and snapshots its memory: whatever the function leaves in memory (the compiled
//! JSON Schema validator of the topic a consumer reads, kept in a `OnceLock`) is already there
//! when Spin instantiates the component for a request. Without the snapshot the component works
//! the same, only slower (each request compiles the validator on first use).
//!
//! The function must not make outbound requests, read variables or write to stdout/stderr: the
//! snapshot holds memory only, not WASI handles.
//!
//! ```ignore
//! fn preinit() {
//!     todo_events::EventSchema::of(todo_events::Topic::TaskEvents);
//! }
//! todo_preinit::export!(preinit);
//! ```

#[doc(hidden)]
pub use wit_bindgen;

/// Exports `wizer-initialize` from the wasm build of this component, calling `$init` (a path to
/// a `fn()`). Natively it exports nothing.
#[macro_export]
macro_rules! export {
    ($init:path) => {
        // Natively the function is only named (so it is not dead code there).
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = $init;

        // The export's ABI glue (wit-bindgen) is `unsafe`: allowed in this module alone.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        mod __todo_preinit {
            $crate::wit_bindgen::generate!({
                inline: "package todo:preinit; world preinit { export wizer-initialize: func(); }",
                world: "preinit",
                runtime_path: "::todo_preinit::wit_bindgen::rt",
            });

            #[allow(unused_imports)]
            use super::*;

            struct Preinit;

            impl Guest for Preinit {
                fn wizer_initialize() {
                    $init();
                }
            }

            export!(Preinit);
        }
    };
}

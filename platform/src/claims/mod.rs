//! Claims of trusted issuers' assertions, after the grant has verified them: each identity
//! provider's Rhai claim transformer, run in a sandbox. (Declarative claim mappings are applied by
//! the grant itself, before the transformer.) Nothing here trusts a script: every limit is set,
//! every result is checked, and a failing script fails one request.

mod sandbox;
mod script_output;
mod scripts;
mod transform;

pub use script_output::ScriptOutput;
pub use scripts::{ScriptError, ENTRY_FUNCTION};
pub use transform::{
    ClaimTransformers, Claims, ClientContext, ProviderContext, TransformContext, TransformError,
    Transformed,
};

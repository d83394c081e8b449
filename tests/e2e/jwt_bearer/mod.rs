//! The JWT bearer grant (RFC 7523) with the real `grant_jwt_bearer` plugin: one module per group
//! of the grant's numbered rules, each with cases that pass and cases that fail. Every security
//! test asserts the precise refusal, so it fails when its check is removed (a later check refusing
//! for another reason does not count).

mod algorithms;
mod claim_mappings;
mod exchange;
mod issuer_and_signature;
mod jwks;
mod replay_and_scopes;
mod service_accounts;
mod shape;
mod subject_audience_time;
mod transformers;

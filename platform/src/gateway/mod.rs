//! The API gateway (issue 14, in progress): validating bearer tokens by themselves, without
//! calling the token server (reference 003).

pub mod validation;

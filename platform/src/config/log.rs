//! `[log]`: how log lines are written.

use serde::{Deserialize, Serialize};

/// `[log]`: how log lines are written to stderr (`RUST_LOG` chooses the level).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// `text` for people, `json` (one object per line, with the request's fields) for collectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

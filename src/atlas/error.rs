//! Why a file could not be read as an ATLAS release: the error every reader
//! returns, and the translation of YAML and JSON parser errors into
//! messages that name the line and column.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The file is over [`super::read::MAX_RELEASE_BYTES`].
    TooLarge,
    /// Not an ATLAS file this program knows how to read.
    UnknownFormat,
    /// Malformed or truncated YAML/JSON.
    Syntax,
    /// Well-formed, but the content breaks a rule (missing field, dangling link).
    Invalid,
}

/// Why a file could not be read as an ATLAS release.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ReadError {
    pub file: String,
    pub kind: ReadErrorKind,
    pub message: String,
}

impl ReadError {
    pub fn new(file: &str, kind: ReadErrorKind, message: impl Into<String>) -> Self {
        ReadError { file: file.to_string(), kind, message: message.into() }
    }
}

/// Turns a YAML parser error into a message with its line and column.
pub(crate) fn yaml_error(file: &str, error: yaml_serde::Error) -> ReadError {
    let kind = if error.to_string().contains("invalid type")
        || error.to_string().contains("missing field")
        || error.to_string().contains("unknown variant")
    {
        ReadErrorKind::Invalid
    } else {
        ReadErrorKind::Syntax
    };
    let mut message = match error.location() {
        Some(loc) => format!("line {} column {}: {}", loc.line(), loc.column(), strip_location(&error.to_string())),
        None => error.to_string(),
    };
    if message.contains("missing field") {
        message.push_str(" (is the file complete?)");
    }
    ReadError::new(file, kind, message)
}

pub(crate) fn json_error(file: &str, error: serde_json::Error) -> ReadError {
    let kind = match error.classify() {
        serde_json::error::Category::Data => ReadErrorKind::Invalid,
        _ => ReadErrorKind::Syntax,
    };
    let what = match error.classify() {
        serde_json::error::Category::Eof => "the JSON ends early (truncated file?)".to_string(),
        _ => strip_location(&error.to_string()),
    };
    ReadError::new(file, kind, format!("line {} column {}: {what}", error.line(), error.column()))
}

fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

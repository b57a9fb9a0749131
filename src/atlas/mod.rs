//! ATLAS framework data: read-only knowledge loaded once and held in memory.
//!
//! Readers for every official distribution ([`legacy`], [`calendar`],
//! [`stix`]) produce one normalised [`model::Release`]; [`import`] detects
//! the format and validates; [`framework::Framework`] indexes a release by ID;
//! [`catalog::Catalog`] holds several releases side by side; [`diff`]
//! compares two releases; [`bundled`] is the default release shipped in
//! `atlas-data/`.

pub mod bundled;
pub mod calendar;
pub mod catalog;
pub mod error;
pub mod framework;
pub mod legacy;
pub mod markdown;
pub mod matrix;
pub mod model;
pub mod read;
pub mod stix;
pub mod yaml_budget;

pub use catalog::Catalog;
pub use error::{ReadError, ReadErrorKind};
pub use framework::Framework;
pub use model::{Maturity, Release, SourceFormat};
pub use read::{MAX_RELEASE_BYTES, read_release};

//! Pure ingest rules: severity and category parsing, classification, secret scrubbing,
//! fingerprinting and size limits. No I/O and no framework types, each unit-tested here.

pub mod category;
pub mod fingerprint;
pub mod scrub;
pub mod severity;
pub mod validate;

pub use category::{Category, classify, parse_category};
pub use fingerprint::{
    Frame, apply_client_fingerprint, fingerprint, normalize_message, parse_stack,
};
pub use scrub::{FILTERED, scrub_json, scrub_text};
pub use severity::{Severity, parse_severity, worst};
pub use validate::truncate_utf8;

//! Pure ingest rules: severity and category parsing, classification, secret scrubbing,
//! fingerprinting and size limits. No I/O and no framework types, each unit-tested here.

pub mod category;
pub mod fingerprint;
pub mod scrub;
pub mod severity;
pub mod validate;

pub use category::{Category, classify, parse_category};
pub use fingerprint::{
    Frame, apply_client_fingerprint, fingerprint, fingerprint_with_frames, normalize_message,
    parse_stack, stack_lines, stack_signature,
};
pub use scrub::{FILTERED, json_needs_scrub, scrub_json, scrub_owned, scrub_text};
pub use severity::{Severity, parse_severity, worst};
pub use validate::{truncate_owned, truncate_utf8};

/// Rewrites `\b` as the ASCII word boundary `(?-u:\b)`: messages are nearly always ASCII,
/// and a Unicode boundary keeps a regex out of its fastest engine.
fn ascii_word_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

/// Compiles a constant pattern for the ingest hot path with ASCII word boundaries.
fn hot_regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(&ascii_word_boundaries(pattern)).expect("valid constant pattern")
}

/// A repeatable xorshift sequence for the tests that generate their inputs: each call gives a
/// number below its argument.
#[cfg(test)]
fn picks(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize % n
    }
}

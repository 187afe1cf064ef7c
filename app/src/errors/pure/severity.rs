//! Event severity: one stored vocabulary for the many level names SDKs send.

use serde::{Deserialize, Serialize};

/// How serious an event is. Variants are declared least severe first so the
/// derived order is `Info < Warning < Error < Critical` and `max` is "worst".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational; SDK `debug` events land here too.
    Info,
    /// Unexpected, but the operation still succeeded.
    Warning,
    /// An operation failed.
    Error,
    /// The service or a core function is down; SDK `fatal` lands here.
    Critical,
}

impl Severity {
    /// Every severity, worst first (the order a UI lists them in).
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ];

    /// Canonical lowercase name, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Parses a level name, trimmed and case-insensitive, accepting the common
/// SDK aliases `fatal`, `err`, `warn` and `debug`.
pub fn parse_severity(s: &str) -> Result<Severity, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" | "fatal" => Ok(Severity::Critical),
        "error" | "err" => Ok(Severity::Error),
        "warning" | "warn" => Ok(Severity::Warning),
        "info" | "debug" => Ok(Severity::Info),
        _ => Err("must be one of critical, error, warning, info".to_owned()),
    }
}

/// The more severe of two levels, e.g. when folding an event into an issue.
pub fn worst(a: Severity, b: Severity) -> Severity {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_names_and_aliases() {
        let cases = [
            ("critical", Severity::Critical),
            ("CRITICAL", Severity::Critical),
            ("fatal", Severity::Critical),
            ("  Fatal\n", Severity::Critical),
            ("error", Severity::Error),
            ("Error", Severity::Error),
            ("err", Severity::Error),
            ("warning", Severity::Warning),
            ("WARN", Severity::Warning),
            ("info", Severity::Info),
            ("debug", Severity::Info),
            ("\tInfo ", Severity::Info),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_severity(input), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn parse_rejects_everything_else() {
        for input in [
            "",
            "   ",
            "panic",
            "errors",
            "information",
            "crit",
            "warn ing",
        ] {
            assert_eq!(
                parse_severity(input),
                Err("must be one of critical, error, warning, info".to_owned()),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn order_is_info_warning_error_critical() {
        assert!(Severity::Info < Severity::Warning);
        assert!(Severity::Warning < Severity::Error);
        assert!(Severity::Error < Severity::Critical);
        let mut sorted = Severity::ALL;
        sorted.sort();
        assert_eq!(
            sorted,
            [
                Severity::Info,
                Severity::Warning,
                Severity::Error,
                Severity::Critical
            ]
        );
    }

    #[test]
    fn worst_picks_the_more_severe() {
        let cases = [
            (Severity::Info, Severity::Info, Severity::Info),
            (Severity::Info, Severity::Warning, Severity::Warning),
            (Severity::Error, Severity::Warning, Severity::Error),
            (Severity::Critical, Severity::Info, Severity::Critical),
            (Severity::Error, Severity::Critical, Severity::Critical),
        ];
        for (a, b, expected) in cases {
            assert_eq!(worst(a, b), expected, "worst({a:?}, {b:?})");
            assert_eq!(worst(b, a), expected, "worst({b:?}, {a:?})");
        }
    }

    #[test]
    fn as_str_round_trips_through_parse_and_serde() -> Result<(), serde_json::Error> {
        for severity in Severity::ALL {
            assert_eq!(parse_severity(severity.as_str()), Ok(severity));
            let json = serde_json::to_string(&severity)?;
            assert_eq!(json, format!("\"{}\"", severity.as_str()));
            assert_eq!(serde_json::from_str::<Severity>(&json)?, severity);
        }
        Ok(())
    }
}

//! Faultline's application crate: domain types, server functions, pages and components shared
//! by the server (`ssr`) and the browser (`hydrate`). One folder per concern.

pub mod agents;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod auth;
#[cfg(feature = "ssr")]
pub mod charts;
pub mod error;
pub mod errors;
pub mod fixes;
#[cfg(feature = "ssr")]
pub mod mcp;
pub mod members;
#[cfg(feature = "ssr")]
pub mod metrics;
pub mod overview;
pub mod playbooks;
#[cfg(feature = "ssr")]
pub mod sentry;
pub mod suggest;
pub mod tenants;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod state;

pub use error::AppError;
pub use ui::{App, shell};

/// The schema migrations, embedded once and shared by the server, the CLI and the tests.
#[cfg(feature = "ssr")]
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Paths that need a signed-in user; the server redirects anonymous page requests to
/// `/login` for these. Anything else renders as is (unknown paths get the 404 page).
pub fn requires_sign_in(path: &str) -> bool {
    const SECTIONS: [&str; 6] = [
        "/errors",
        "/agents",
        "/fixes",
        "/playbooks",
        "/settings",
        "/admin",
    ];
    path == "/"
        || SECTIONS.iter().any(|s| {
            path == *s
                || path
                    .strip_prefix(s)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sign_in_is_required_for_app_sections_only() {
        for p in ["/", "/errors", "/errors/12", "/settings", "/admin"] {
            assert!(super::requires_sign_in(p), "{p}");
        }
        for p in [
            "/login",
            "/errorsx",
            "/nope",
            "/pkg/faultline.js",
            "/health",
        ] {
            assert!(!super::requires_sign_in(p), "{p}");
        }
    }
}

//! The auto-fix log at `/fixes` and one run at `/fixes/{id}`.

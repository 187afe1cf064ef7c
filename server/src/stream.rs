//! `GET /api/stream`: server-sent events telling a signed-in browser which of its company's
//! groups changed, as the writers commit them (see `app::errors::live`).

use app::auth::Role;
use app::errors::live::GroupsChanged;
use app::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::Session;

/// One `groups` event per commit that touched the caller's company (`{"g": [ids]}`), a
/// `lagged` event when this client fell behind and missed some, and a keep-alive comment
/// every 15 seconds.
pub async fn stream(State(state): State<AppState>, session: Session) -> Response {
    let tenant = match app::auth::ssr::auth_from(&session, &state.pool)
        .await
        .and_then(|ctx| ctx.require(Role::Viewer))
    {
        Ok(tenant) => tenant,
        Err(e) => return e.into_response(),
    };
    let client = LiveClient::connected();
    let events = futures::stream::unfold(
        (state.live.subscribe(), client),
        move |(mut rx, client)| async move {
            loop {
                let event = match rx.recv().await {
                    Ok(GroupsChanged { tenant_id, groups }) if tenant_id == tenant => {
                        Event::default()
                            .event("groups")
                            .json_data(serde_json::json!({ "g": groups }))
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        Ok(Event::default().event("lagged").data(missed.to_string()))
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((event, (rx, client)));
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Counts a connected live-feed browser for `/metrics` while it stays connected.
struct LiveClient;

impl LiveClient {
    fn connected() -> Self {
        app::metrics::METRICS.live_clients(1);
        LiveClient
    }
}

impl Drop for LiveClient {
    fn drop(&mut self) {
        app::metrics::METRICS.live_clients(-1);
    }
}

//! Sentry SDK ingest: any Sentry SDK pointed at the DSN `http://<public key>@<host>/<company
//! id>` sends its envelopes (`/api/{project}/envelope/`) or legacy events
//! (`/api/{project}/store/`) here. The pure parts — authentication header, decompression with a
//! size limit, envelope framing, and mapping an event to a [`LogErrorInput`] — are in
//! `protocol`; `ssr` checks the key and the per-key rate limit and hands events to the same
//! ingest service as every other interface.

pub mod protocol;
pub mod ssr;

pub use protocol::{Envelope, Item, decompress, map_event, parse_envelope, sentry_key};

//! What agents send, how it is checked and normalized, and what they get back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(feature = "ssr")]
pub use normalize::NormalizedEvent;

/// Longest message stored; longer ones are cut and marked.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// Largest `details` object (serialized) and stack trace accepted.
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;
pub const MAX_STACK_BYTES: usize = 64 * 1024;
/// Most events in one `log_errors` call.
pub const MAX_BATCH: usize = 1000;
/// Appended to a message cut at [`MAX_MESSAGE_BYTES`].
pub const TRUNCATED: &str = "… [truncated]";

/// One error occurrence as an agent or service sends it (seed 001's shape plus Sentry's extras).
/// Unknown fields are ignored, so clients written for other trackers keep working.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogErrorInput {
    pub service: String,
    pub severity: String,
    pub error_type: String,
    pub message: String,
    #[serde(default)]
    pub details: Option<JsonText>,
    #[serde(default)]
    pub stack_trace: Option<String>,
    /// The reporting agent's name (registered on first sight).
    #[serde(default)]
    pub agent: Option<String>,
    /// When it happened (RFC 3339); now when absent.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// A client-chosen UUID: a retry with the same id is stored and counted once.
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub tags: Option<Value>,
    /// Sentry-style fingerprint override; `{{ default }}` stands for the computed one.
    #[serde(default)]
    pub fingerprint: Option<Vec<String>>,
}

/// A JSON value kept as the text it came in (`details`): ingest stores the text as it is when
/// nothing in it needs scrubbing, and only otherwise builds the value to scrub it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonText(Box<serde_json::value::RawValue>);

impl JsonText {
    /// The text of `value`.
    pub fn from_value(value: &Value) -> Self {
        Self(serde_json::value::to_raw_value(value).expect("a JSON value serializes"))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// What storing one event answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The event's id (the client's when it sent one).
    pub event_id: uuid::Uuid,
    pub group_id: i64,
    pub is_new_group: bool,
    /// The group's occurrence count after this event.
    pub occurrences: i64,
}

#[cfg(feature = "ssr")]
pub use batch_item::BatchItem;

/// Items of a `log_errors` batch, read in the same pass as the batch itself.
#[cfg(feature = "ssr")]
mod batch_item {
    use super::*;
    use crate::error::AppError;
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    /// One item of a batch: the event, or why this item alone is refused. An item of the wrong
    /// shape (a field of the wrong type, a required one missing, not an object at all) is
    /// consumed whole and answered on its own, so it never fails the rest of the batch and the
    /// batch is parsed once, without keeping each item's text to parse it again.
    #[derive(Debug, Clone)]
    pub struct BatchItem(pub Result<LogErrorInput, AppError>);

    impl<'de> Deserialize<'de> for BatchItem {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Lenient(ItemJudge)).map(BatchItem)
        }
    }

    /// The server function's signature asks for it; a refused item serializes as `null`.
    impl Serialize for BatchItem {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.as_ref().ok().serialize(s)
        }
    }

    /// The fields of [`LogErrorInput`]; others are ignored as they are for one event.
    enum Key {
        Service,
        Severity,
        ErrorType,
        Message,
        Details,
        StackTrace,
        Agent,
        Timestamp,
        EventId,
        Category,
        Environment,
        Release,
        Tags,
        Fingerprint,
        Other,
    }

    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct KeyVisitor;
            impl Visitor<'_> for KeyVisitor {
                type Value = Key;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a field name")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                    Ok(match v {
                        "service" => Key::Service,
                        "severity" => Key::Severity,
                        "error_type" => Key::ErrorType,
                        "message" => Key::Message,
                        "details" => Key::Details,
                        "stack_trace" => Key::StackTrace,
                        "agent" => Key::Agent,
                        "timestamp" => Key::Timestamp,
                        "event_id" => Key::EventId,
                        "category" => Key::Category,
                        "environment" => Key::Environment,
                        "release" => Key::Release,
                        "tags" => Key::Tags,
                        "fingerprint" => Key::Fingerprint,
                        _ => Key::Other,
                    })
                }
            }
            d.deserialize_identifier(KeyVisitor)
        }
    }

    /// A field where text is wanted: the text, `None` for `null`, or what was sent instead
    /// (consumed whole).
    struct Text(Result<Option<String>, &'static str>);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Lenient(TextJudge)).map(Text)
        }
    }

    /// What a lenient visitor met.
    enum Found {
        Null,
        Text(String),
        Bool,
        Number,
        Array,
        Object,
    }

    impl Found {
        fn name(&self) -> &'static str {
            match self {
                Found::Null => "null",
                Found::Text(_) => "text",
                Found::Bool => "true or false",
                Found::Number => "a number",
                Found::Array => "an array",
                Found::Object => "an object",
            }
        }
    }

    /// What a [`Lenient`] visitor makes of the value it met.
    trait Judge<'de>: Sized {
        type Out;

        fn judge(self, found: Found) -> Self::Out;

        /// An object: skipped over unless the judge reads it.
        fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(self.judge(Found::Object))
        }
    }

    /// Accepts any JSON value (arrays, and objects its judge does not read, are skipped over)
    /// and lets the judge decide; only broken JSON is an error.
    struct Lenient<J>(J);

    impl<'de, J: Judge<'de>> Visitor<'de> for Lenient<J> {
        type Value = J::Out;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<J::Out, E> {
            Ok(self.0.judge(Found::Text(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<J::Out, E> {
            Ok(self.0.judge(Found::Text(v)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<J::Out, E> {
            Ok(self.0.judge(Found::Null))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<J::Out, E> {
            Ok(self.0.judge(Found::Bool))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<J::Out, E> {
            Ok(self.0.judge(Found::Number))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<J::Out, E> {
            Ok(self.0.judge(Found::Number))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<J::Out, E> {
            Ok(self.0.judge(Found::Number))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J::Out, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(self.0.judge(Found::Array))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<J::Out, A::Error> {
            self.0.object(map)
        }
    }

    /// A text field.
    struct TextJudge;

    impl Judge<'_> for TextJudge {
        type Out = Result<Option<String>, &'static str>;

        fn judge(self, found: Found) -> Self::Out {
            match found {
                Found::Text(t) => Ok(Some(t)),
                Found::Null => Ok(None),
                other => Err(other.name()),
            }
        }
    }

    /// A batch item: an object is read as an event, anything else refused.
    struct ItemJudge;

    impl<'de> Judge<'de> for ItemJudge {
        type Out = Result<LogErrorInput, AppError>;

        fn judge(self, found: Found) -> Self::Out {
            Err(AppError::invalid(
                "body",
                format!("each event must be an object, not {}", found.name()),
            ))
        }

        fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
            let mut input = LogErrorInput::default();
            let mut first_error = None;
            let mut present = [false; 4];
            while let Some(key) = map.next_key::<Key>()? {
                let (field, slot): (&str, &mut Option<String>) = match key {
                    Key::Details => {
                        input.details = map.next_value()?;
                        continue;
                    }
                    Key::Tags => {
                        input.tags = map.next_value::<Option<Value>>()?;
                        continue;
                    }
                    Key::Fingerprint => {
                        let parts = map.next_value::<Option<Value>>()?;
                        match parts.map(serde_json::from_value::<Vec<String>>).transpose() {
                            Ok(parts) => input.fingerprint = parts,
                            Err(_) => {
                                first_error.get_or_insert_with(|| {
                                    AppError::invalid("fingerprint", "must be a list of strings")
                                });
                            }
                        }
                        continue;
                    }
                    Key::Other => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    Key::Service | Key::Severity | Key::ErrorType | Key::Message => {
                        let (field, i, text) = match key {
                            Key::Service => ("service", 0, &mut input.service),
                            Key::Severity => ("severity", 1, &mut input.severity),
                            Key::ErrorType => ("error_type", 2, &mut input.error_type),
                            _ => ("message", 3, &mut input.message),
                        };
                        match map.next_value::<Text>()?.0 {
                            Ok(Some(t)) => {
                                *text = t;
                                present[i] = true;
                            }
                            Ok(None) => {}
                            Err(found) => {
                                first_error.get_or_insert_with(|| wrong_type(field, found));
                            }
                        }
                        continue;
                    }
                    Key::StackTrace => ("stack_trace", &mut input.stack_trace),
                    Key::Agent => ("agent", &mut input.agent),
                    Key::Timestamp => ("timestamp", &mut input.timestamp),
                    Key::EventId => ("event_id", &mut input.event_id),
                    Key::Category => ("category", &mut input.category),
                    Key::Environment => ("environment", &mut input.environment),
                    Key::Release => ("release", &mut input.release),
                };
                match map.next_value::<Text>()?.0 {
                    Ok(text) => *slot = text,
                    Err(found) => {
                        first_error.get_or_insert_with(|| wrong_type(field, found));
                    }
                }
            }
            if let Some(e) = first_error {
                return Ok(Err(e));
            }
            let required = ["service", "severity", "error_type", "message"];
            if let Some(i) = present.iter().position(|p| !p) {
                return Ok(Err(AppError::invalid(required[i], "is required")));
            }
            Ok(Ok(input))
        }
    }

    fn wrong_type(field: &str, found: &str) -> AppError {
        AppError::invalid(field, format!("must be text, not {found}"))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[derive(Deserialize)]
        struct Batch {
            events: Vec<BatchItem>,
        }

        fn items(json: &str) -> Vec<Result<LogErrorInput, (String, String)>> {
            serde_json::from_str::<Batch>(json)
                .expect("the batch parses")
                .events
                .into_iter()
                .map(|i| {
                    i.0.map_err(|e| {
                        let v = serde_json::to_value(crate::error::ErrorBody::from(e)).unwrap();
                        (
                            v["field"].as_str().unwrap_or("").into(),
                            v["message"].to_string(),
                        )
                    })
                })
                .collect()
        }

        #[test]
        fn each_item_is_judged_on_its_own() {
            let good = r#"{"service":"api","severity":"error","error_type":"E","message":"m"}"#;
            let json = format!(
                r#"{{"events":[
                    {good},
                    {{"service":"api","severity":5,"error_type":"E","message":"m","x":[1,{{"a":[]}}]}},
                    {{"service":"api","error_type":"E","message":"m"}},
                    {{"service":"api","severity":null,"error_type":"E","message":"m"}},
                    7, "text", null, true, [1, [2], {{"service":"x"}}],
                    {{"service":"api","severity":"error","error_type":"E","message":"m",
                      "agent":{{"name":"a"}},"fingerprint":"x"}},
                    {{"service":"api","severity":"error","error_type":"E","message":"m",
                      "fingerprint":["{{{{ default }}}}","x"],"tags":{{"t":"v"}},
                      "details":{{"k":[1,2]}},"stack_trace":"Trace\n  at f","agent":null,
                      "unknown":{{"deep":[{{}}]}},"release":"1.2"}},
                    {good}
                ]}}"#
            );
            let items = items(&json);
            assert_eq!(items.len(), 12);
            let field = |i: usize| items[i].as_ref().unwrap_err().0.clone();
            let message = |i: usize| items[i].as_ref().unwrap_err().1.clone();
            assert!(items[0].is_ok() && items[11].is_ok());
            assert_eq!(field(1), "severity");
            assert!(
                message(1).contains("must be text, not a number"),
                "{}",
                message(1)
            );
            assert_eq!((field(2), field(3)), ("severity".into(), "severity".into()));
            assert!(message(2).contains("is required"));
            for i in 4..=8 {
                assert_eq!(field(i), "body", "item {i}");
                assert!(message(i).contains("must be an object"), "{}", message(i));
            }
            // The first field of the wrong type is named.
            assert_eq!(field(9), "agent");
            let full = items[10].as_ref().unwrap();
            assert_eq!(
                full.fingerprint.as_deref(),
                Some(&["{{ default }}".to_owned(), "x".to_owned()][..])
            );
            assert_eq!(full.details.as_ref().unwrap().get(), r#"{"k":[1,2]}"#);
            assert_eq!(full.tags, Some(serde_json::json!({"t": "v"})));
            assert_eq!(full.stack_trace.as_deref(), Some("Trace\n  at f"));
            assert_eq!(
                (full.agent.as_deref(), full.release.as_deref()),
                (None, Some("1.2"))
            );
        }

        #[test]
        fn broken_json_still_fails_the_whole_batch() {
            for json in [
                r#"{"events":[{"service":"a",}]}"#,
                r#"{"events":[{"service":"a"]}"#,
                r#"{"events":[{"service":"a\q"}]}"#,
            ] {
                assert!(serde_json::from_str::<Batch>(json).is_err(), "{json}");
            }
        }
    }
}

/// Server-side normalization: validation, scrubbing, classification, fingerprinting.
#[cfg(feature = "ssr")]
mod normalize {
    use super::*;
    use crate::error::AppError;
    use crate::errors::pure::{
        Category, Severity, apply_client_fingerprint, classify, fingerprint_with_frames,
        json_needs_scrub, parse_category, parse_severity, scrub_json, scrub_owned, stack_signature,
        truncate_owned, truncate_utf8,
    };
    use chrono::{DateTime, Utc};
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};

    const MAX_NAME_CHARS: usize = 200;
    const MAX_TAGS: usize = 50;

    /// A checked, scrubbed, classified and fingerprinted event, ready for the writer.
    #[derive(Debug, Clone, PartialEq)]
    pub struct NormalizedEvent {
        pub event_id: uuid::Uuid,
        pub service: String,
        pub error_type: String,
        pub severity: Severity,
        /// The category the client named, if it did (see [`NormalizedEvent::category`]).
        pub named_category: Option<Category>,
        pub title: String,
        pub message: String,
        /// The scrubbed `details` object, serialized once (what is stored).
        pub details_json: Option<String>,
        /// The scrubbed stack trace, shared with every other event that sent the same one.
        pub stack_trace: Option<Arc<str>>,
        /// SHA-256 of the scrubbed stack trace: each distinct trace is stored once per
        /// company (`stack_traces`) and events refer to it by this hash.
        pub stack_hash: Option<[u8; 32]>,
        pub agent: Option<String>,
        pub environment: Option<String>,
        pub release: Option<String>,
        /// The checked and scrubbed tags object, serialized.
        pub tags_json: Option<String>,
        pub fingerprint: String,
        pub occurred_at: DateTime<Utc>,
    }

    impl NormalizedEvent {
        /// The category its group gets when this event creates it: the one the client named,
        /// or else classified from the type and message. Only a group's first event decides
        /// it, so the writer asks only for the groups it creates.
        pub fn category(&self) -> Category {
            self.named_category
                .unwrap_or_else(|| classify(&self.error_type, &self.message))
        }
    }

    /// A stack trace after scrubbing, with its call-site signature for the fingerprint.
    #[derive(Clone)]
    struct PreparedStack {
        scrubbed: Arc<str>,
        frames: Arc<str>,
        hash: [u8; 32],
    }

    /// Traces longer than this are prepared every time instead of being cached.
    const CACHED_STACK_BYTES: usize = 16 * 1024;
    /// Text the cache may hold (traces and their scrubbed copies when they differ).
    const CACHED_STACKS_BYTES: usize = 12 * 1024 * 1024;

    /// Agents send the same traces over and over, and scrubbing and frame parsing are the
    /// costliest part of normalizing an event; both depend on the trace alone.
    #[derive(Default)]
    struct StackCache {
        /// Keyed by the trace as sent: foldhash reads a 2 KB key several times faster than
        /// the standard SipHash and keeps a per-process random seed.
        entries: HashMap<Arc<str>, PreparedStack, foldhash::quality::RandomState>,
        bytes: usize,
    }

    static STACKS: LazyLock<Mutex<StackCache>> = LazyLock::new(Default::default);

    fn entry_bytes(key: &str, p: &PreparedStack) -> usize {
        let scrubbed = if *p.scrubbed == *key {
            0
        } else {
            p.scrubbed.len()
        };
        key.len() + scrubbed + p.frames.len() + 64
    }

    /// Scrubs `raw` (U+0000 replaced first: see [`no_nul`]), or finds it prepared already.
    fn prepare_stack(raw: &str) -> PreparedStack {
        let cacheable = raw.len() <= CACHED_STACK_BYTES;
        if cacheable && let Some(hit) = STACKS.lock().ok().and_then(|c| c.entries.get(raw).cloned())
        {
            return hit;
        }
        let mut text = raw.to_owned();
        no_nul(&mut text);
        let scrubbed = scrub_owned(text);
        let key: Arc<str> = raw.into();
        let prepared = PreparedStack {
            frames: stack_signature(&scrubbed).into(),
            hash: stack_hash(&scrubbed),
            scrubbed: if scrubbed == raw {
                key.clone()
            } else {
                scrubbed.into()
            },
        };
        if cacheable && let Ok(mut cache) = STACKS.lock() {
            let size = entry_bytes(&key, &prepared);
            if cache.bytes + size > CACHED_STACKS_BYTES {
                // Drop about a quarter, in the map's arbitrary order: the traces sent often
                // come straight back, and one burst of new ones cannot flush them all.
                let mut freed = 0;
                let goal = CACHED_STACKS_BYTES / 4;
                cache.entries.retain(|k, p| {
                    if freed >= goal {
                        return true;
                    }
                    freed += entry_bytes(k, p);
                    false
                });
                cache.bytes -= freed.min(cache.bytes);
            }
            if cache.entries.insert(key, prepared.clone()).is_none() {
                cache.bytes += size;
            }
        }
        prepared
    }

    /// The key of a stored stack trace: SHA-256 of its text (as PostgreSQL's
    /// `sha256(convert_to(trace, 'UTF8'))` computes it for the traces stored before).
    fn stack_hash(trace: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(trace.as_bytes()).into()
    }

    /// The trimmed name; `raw` itself when there was nothing to trim (no copy).
    fn required_name(field: &str, raw: String) -> Result<String, AppError> {
        let v = raw.trim();
        if v.is_empty() {
            return Err(AppError::invalid(field, "is required"));
        }
        if v.chars().count() > MAX_NAME_CHARS {
            return Err(AppError::invalid(
                field,
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        Ok(if v.len() == raw.len() {
            raw
        } else {
            v.to_owned()
        })
    }

    fn optional_name(field: &str, raw: Option<&str>) -> Result<Option<String>, AppError> {
        match raw.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => required_name(field, v.to_owned()).map(Some),
        }
    }

    /// Parses an event id: a UUID in any common form (Sentry sends 32 hex digits).
    pub fn parse_event_id(raw: &str) -> Result<uuid::Uuid, AppError> {
        uuid::Uuid::parse_str(raw.trim())
            .map_err(|_| AppError::invalid("event_id", "must be a UUID"))
    }

    fn parse_timestamp(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
        let t = DateTime::parse_from_rfc3339(raw.trim())
            .map_err(|_| {
                AppError::invalid(
                    "timestamp",
                    "must be an RFC 3339 time such as 2026-01-31T12:00:00Z",
                )
            })?
            .with_timezone(&Utc);
        if t > now + chrono::Duration::days(1) {
            return Err(AppError::invalid(
                "timestamp",
                "is more than a day in the future",
            ));
        }
        Ok(t)
    }

    fn parse_tags(raw: Value) -> Result<Option<Value>, AppError> {
        let Value::Object(map) = raw else {
            return Err(AppError::invalid(
                "tags",
                "must be an object of string values",
            ));
        };
        if map.len() > MAX_TAGS {
            return Err(AppError::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags"),
            ));
        }
        let mut out = serde_json::Map::new();
        for (k, v) in map {
            if k.is_empty() || k.chars().count() > 64 {
                return Err(AppError::invalid(
                    "tags",
                    "tag names must be 1–64 characters",
                ));
            }
            let text = match v {
                Value::String(s) => s,
                Value::Null => continue,
                Value::Bool(_) | Value::Number(_) => v.to_string(),
                _ => {
                    return Err(AppError::invalid(
                        "tags",
                        format!("tag {k:?} must be a string"),
                    ));
                }
            };
            let (text, _) = truncate_utf8(&text, 200, "…");
            out.insert(k, Value::String(text));
        }
        Ok((!out.is_empty()).then_some(Value::Object(out)))
    }

    /// The `details` text stored: as sent when nothing in it needs scrubbing (most events),
    /// otherwise parsed, cleaned of U+0000, scrubbed and serialized again. `None` for `null`.
    fn details_text(details: JsonText) -> Result<Option<String>, AppError> {
        let raw = details.get();
        if raw.len() <= MAX_DETAILS_BYTES && !json_needs_scrub(raw) {
            return Ok((raw != "null").then(|| String::from(Box::<str>::from(details.0))));
        }
        let mut value: Value = serde_json::from_str(raw)
            .map_err(|e| AppError::invalid("details", format!("is not valid JSON: {e}")))?;
        if value.is_null() {
            return Ok(None);
        }
        no_nul_json(&mut value);
        scrub_json(&mut value);
        let text = json_text("details", &value)?;
        if text.len() > MAX_DETAILS_BYTES {
            return Err(AppError::invalid(
                "details",
                format!("must be at most {} KiB", MAX_DETAILS_BYTES / 1024),
            ));
        }
        Ok(Some(text))
    }

    /// A scrubbed JSON field as the text stored for it.
    fn json_text(field: &str, value: &Value) -> Result<String, AppError> {
        serde_json::to_string(value)
            .map_err(|e| AppError::invalid(field, format!("cannot be stored: {e}")))
    }

    /// PostgreSQL text and jsonb cannot hold U+0000: replace it so that one such event can
    /// never fail the batch it is written with.
    fn no_nul(s: &mut String) {
        if s.contains('\0') {
            *s = s.replace('\0', "\u{FFFD}");
        }
    }

    fn no_nul_json(v: &mut Value) {
        match v {
            Value::String(s) => no_nul(s),
            Value::Array(items) => items.iter_mut().for_each(no_nul_json),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(mut k, v)| {
                            no_nul(&mut k);
                            (k, v)
                        })
                        .collect();
                }
                map.values_mut().for_each(no_nul_json);
            }
            _ => {}
        }
    }

    impl LogErrorInput {
        fn strip_nul(&mut self) {
            for s in [
                &mut self.service,
                &mut self.severity,
                &mut self.error_type,
                &mut self.message,
            ] {
                no_nul(s);
            }
            // The stack trace is cleaned where it is prepared (only when not cached).
            for s in [
                &mut self.agent,
                &mut self.timestamp,
                &mut self.event_id,
                &mut self.category,
                &mut self.environment,
                &mut self.release,
            ]
            .into_iter()
            .flatten()
            {
                no_nul(s);
            }
            if let Some(tags) = &mut self.tags {
                no_nul_json(tags);
            }
            for s in self.fingerprint.iter_mut().flatten() {
                no_nul(s);
            }
        }

        /// Validates, scrubs secrets, classifies and fingerprints. `now` is the receive time.
        pub fn normalize(mut self, now: DateTime<Utc>) -> Result<NormalizedEvent, AppError> {
            self.strip_nul();
            let service = required_name("service", std::mem::take(&mut self.service))?;
            let error_type = required_name("error_type", std::mem::take(&mut self.error_type))?;
            let severity = parse_severity(&self.severity)
                .map_err(|reason| AppError::invalid("severity", reason))?;
            if self.message.trim().is_empty() {
                return Err(AppError::invalid("message", "is required"));
            }
            let named_category = match self
                .category
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                Some(c) => Some(
                    parse_category(c).map_err(|reason| AppError::invalid("category", reason))?,
                ),
                None => None,
            };
            let details_json = match self.details {
                None => None,
                Some(d) => details_text(d)?,
            };
            let stack = match self.stack_trace.filter(|s| !s.trim().is_empty()) {
                Some(s) if s.len() > MAX_STACK_BYTES => {
                    return Err(AppError::invalid(
                        "stack_trace",
                        format!("must be at most {} KiB", MAX_STACK_BYTES / 1024),
                    ));
                }
                Some(s) => Some(prepare_stack(&s)),
                None => None,
            };
            let message = scrub_owned(std::mem::take(&mut self.message));
            let frames = stack.as_ref().map(|s| &*s.frames).unwrap_or_default();
            let default_fp = fingerprint_with_frames(&service, &error_type, &message, frames);
            let fp = match self.fingerprint {
                Some(parts)
                    if parts.len() > 10 || parts.iter().any(|p| p.chars().count() > 200) =>
                {
                    return Err(AppError::invalid(
                        "fingerprint",
                        "at most 10 parts of at most 200 characters",
                    ));
                }
                Some(parts) => apply_client_fingerprint(&parts, &default_fp),
                None => default_fp,
            };
            let (message, _) = truncate_owned(message, MAX_MESSAGE_BYTES, TRUNCATED);
            let title_line = message.lines().next().unwrap_or_default();
            let (title, _) = truncate_utf8(title_line, 300, "…");
            let tags_json = match self.tags {
                None | Some(Value::Null) => None,
                Some(t) => match parse_tags(t)? {
                    Some(mut t) => {
                        scrub_json(&mut t);
                        Some(json_text("tags", &t)?)
                    }
                    None => None,
                },
            };
            Ok(NormalizedEvent {
                event_id: match self.event_id.as_deref().filter(|e| !e.trim().is_empty()) {
                    Some(id) => parse_event_id(id)?,
                    None => uuid::Uuid::now_v7(),
                },
                occurred_at: match self.timestamp.as_deref().filter(|t| !t.trim().is_empty()) {
                    Some(t) => parse_timestamp(t, now)?,
                    None => now,
                },
                service,
                error_type,
                severity,
                named_category,
                title,
                message,
                details_json,
                stack_hash: stack.as_ref().map(|s| s.hash),
                stack_trace: stack.map(|s| s.scrubbed),
                agent: optional_name("agent", self.agent.as_deref())?,
                environment: optional_name("environment", self.environment.as_deref())?,
                release: optional_name("release", self.release.as_deref())?,
                tags_json,
                fingerprint: fp,
            })
        }
    }
}

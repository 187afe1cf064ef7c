//! The Sentry protocol, as plain functions: who is sending (`X-Sentry-Auth` or
//! `?sentry_key=`), the body (gzip, deflate or br, refused past a decompressed size), the
//! envelope (a header line, then items: a header line and a payload of `length` bytes or up
//! to the next newline), and an event mapped to Faultline's input.

use crate::error::AppError;
use crate::errors::model::LogErrorInput;
use serde_json::{Map, Value, json};
use std::io::Read;

/// The public key from `X-Sentry-Auth: Sentry sentry_key=…, sentry_version=7, …` or from the
/// query string's `sentry_key`.
pub fn sentry_key(auth_header: Option<&str>, query: Option<&str>) -> Option<String> {
    let from_header = auth_header.and_then(|h| {
        let h = h.trim();
        let h = h
            .strip_prefix("Sentry ")
            .or_else(|| h.strip_prefix("sentry "))
            .unwrap_or(h);
        h.split(',').find_map(|part| {
            let (k, v) = part.trim().split_once('=')?;
            (k.trim() == "sentry_key").then(|| v.trim().to_owned())
        })
    });
    let from_query = || {
        query.and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == "sentry_key").then(|| v.to_owned())
            })
        })
    };
    from_header
        .or_else(from_query)
        .filter(|k| !k.is_empty() && k.len() <= 100 && k.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The body as sent (`Content-Encoding` gzip, deflate, br or none), refused with 413 when it
/// would decompress past `max` bytes and with 400 when it is not what it claims.
pub fn decompress(encoding: Option<&str>, body: &[u8], max: usize) -> Result<Vec<u8>, AppError> {
    let bad =
        |e: std::io::Error| AppError::invalid("body", format!("the body does not decompress: {e}"));
    let mut out = Vec::new();
    let limit = max as u64 + 1;
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "identity") => out.extend_from_slice(body),
        Some("gzip" | "x-gzip") => {
            flate2::read::MultiGzDecoder::new(body)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(bad)?;
        }
        Some("deflate") => {
            // Deflate as HTTP means zlib-wrapped; some clients send it raw.
            let zlib = flate2::read::ZlibDecoder::new(body)
                .take(limit)
                .read_to_end(&mut out);
            if zlib.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(body)
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(bad)?;
            }
        }
        Some("br") => {
            brotli_decompressor::Decompressor::new(body, 4096)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(bad)?;
        }
        Some(other) => {
            return Err(AppError::invalid(
                "content-encoding",
                format!("{other} is not supported (gzip, deflate, br)"),
            ));
        }
    }
    if out.len() > max {
        return Err(AppError::PayloadTooLarge(format!(
            "the body decompresses to more than {max} bytes"
        )));
    }
    Ok(out)
}

/// An envelope: its header and its items.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub header: Value,
    pub items: Vec<Item>,
}

/// One envelope item: its `type` and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: String,
    pub payload: Vec<u8>,
}

/// The bytes up to the next newline (or the end), consumed from `rest`.
fn take_line<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let l = &rest[..i];
            *rest = &rest[i + 1..];
            l
        }
        None => std::mem::take(rest),
    }
}

/// Parses an envelope. A malformed header, an item without a type, or an item whose
/// `length` runs past the end is a 400 (naming the item); an empty trailing line is fine.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, AppError> {
    let bad = |msg: String| AppError::invalid("envelope", msg);
    let mut rest = bytes;
    let header_line = take_line(&mut rest);
    let header: Value = serde_json::from_slice(header_line)
        .map_err(|e| bad(format!("the envelope header is not JSON: {e}")))?;
    if !header.is_object() {
        return Err(bad("the envelope header must be a JSON object".into()));
    }
    let mut items = Vec::new();
    while !rest.is_empty() {
        let item_line = take_line(&mut rest);
        if item_line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = items.len();
        let h: Value = serde_json::from_slice(item_line)
            .map_err(|e| bad(format!("item {n}: its header is not JSON: {e}")))?;
        let kind = h["type"]
            .as_str()
            .ok_or_else(|| bad(format!("item {n}: its header has no type")))?
            .to_owned();
        let payload = match &h["length"] {
            Value::Null => take_line(&mut rest).to_vec(),
            Value::Number(len) => {
                let len = len
                    .as_u64()
                    .ok_or_else(|| bad(format!("item {n}: length must be a whole number")))?
                    as usize;
                if len > rest.len() {
                    return Err(bad(format!(
                        "item {n} ({kind}): length {len} runs past the end of the envelope ({} bytes left)",
                        rest.len()
                    )));
                }
                let p = rest[..len].to_vec();
                rest = &rest[len..];
                // The newline after a payload is optional at the very end.
                if rest.first() == Some(&b'\n') {
                    rest = &rest[1..];
                }
                p
            }
            _ => return Err(bad(format!("item {n}: length must be a number"))),
        };
        items.push(Item { kind, payload });
    }
    Ok(Envelope { header, items })
}

fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Tags as an object, from Sentry's object or list-of-pairs forms.
fn tags_of(v: &Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m.clone(),
        Value::Array(pairs) => pairs
            .iter()
            .filter_map(|p| {
                let k = p.get(0)?.as_str()?;
                Some((k.to_owned(), p.get(1).cloned().unwrap_or(Value::Null)))
            })
            .collect(),
        _ => Map::new(),
    }
}

/// The exception values, oldest cause first (Sentry's order), from either form.
fn exceptions(v: &Value) -> Vec<&Value> {
    match &v["exception"] {
        Value::Object(o) => o
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Value::Array(a) => a.iter().collect(),
        _ => Vec::new(),
    }
}

/// A Python-style traceback of one exception's frames (innermost last), the form the
/// fingerprint reads: `File "path", line N, in function`.
fn traceback(e: &Value) -> String {
    let mut out = String::from("Traceback (most recent call last):\n");
    if let Some(frames) = e["stacktrace"]["frames"].as_array() {
        for f in frames {
            let path = str_of(&f["abs_path"])
                .or_else(|| str_of(&f["filename"]))
                .or_else(|| str_of(&f["module"]))
                .unwrap_or_else(|| "<unknown>".into());
            let function = str_of(&f["function"]).unwrap_or_else(|| "<module>".into());
            match f["lineno"].as_u64() {
                Some(line) => {
                    out.push_str(&format!("  File \"{path}\", line {line}, in {function}\n"))
                }
                None => out.push_str(&format!("  File \"{path}\", in {function}\n")),
            }
            if let Some(code) = str_of(&f["context_line"]) {
                out.push_str(&format!("    {}\n", code.trim()));
            }
        }
    }
    let kind = str_of(&e["type"]).unwrap_or_else(|| "Error".into());
    match str_of(&e["value"]) {
        Some(value) => out.push_str(&format!("{kind}: {value}")),
        None => out.push_str(&kind),
    }
    out
}

/// Maps a Sentry event to Faultline's input: the raised exception's type and value (or the
/// message), its chain's stack traces, level, environment, release, tags (with the
/// platform), `server_name` as the service unless a `service` tag says otherwise, the
/// fingerprint, the event id, the timestamp; contexts, extra, user and request go to
/// `details` (scrubbed with everything else at ingest).
pub fn map_event(v: &Value) -> Result<LogErrorInput, AppError> {
    if !v.is_object() {
        return Err(AppError::invalid("event", "an event must be a JSON object"));
    }
    let chain = exceptions(v);
    let message_text = str_of(&v["logentry"]["formatted"])
        .or_else(|| str_of(&v["logentry"]["message"]))
        .or_else(|| str_of(&v["message"]["formatted"]))
        .or_else(|| str_of(&v["message"]["message"]))
        .or_else(|| str_of(&v["message"]));
    let (error_type, message, stack_trace) = match chain.last() {
        Some(main) => {
            let kind = str_of(&main["type"]).unwrap_or_else(|| "Error".into());
            let value = str_of(&main["value"])
                .or_else(|| message_text.clone())
                .unwrap_or_else(|| kind.clone());
            let stack = chain.iter().map(|e| traceback(e)).collect::<Vec<_>>().join(
                "\n\nThe above exception was the direct cause of the following exception:\n\n",
            );
            (kind, value, Some(stack))
        }
        None => match message_text {
            Some(m) => ("Message".to_owned(), m, None),
            None => {
                return Err(AppError::invalid(
                    "event",
                    "the event has neither an exception nor a message",
                ));
            }
        },
    };
    let mut tags = tags_of(&v["tags"]);
    if let Some(p) = str_of(&v["platform"]) {
        tags.entry("platform").or_insert(json!(p));
    }
    if let Some(l) = str_of(&v["logger"]) {
        tags.entry("logger").or_insert(json!(l));
    }
    let service = tags
        .get("service")
        .and_then(str_of)
        .or_else(|| str_of(&v["server_name"]))
        .or_else(|| str_of(&v["platform"]))
        .unwrap_or_else(|| "sentry".into());
    let severity = match str_of(&v["level"]).as_deref() {
        Some(l) => l.to_owned(),
        None => "error".into(),
    };
    let timestamp = match &v["timestamp"] {
        Value::Number(n) => n.as_f64().and_then(|secs| {
            chrono::DateTime::from_timestamp(secs.trunc() as i64, (secs.fract() * 1e9) as u32)
                .map(|t| t.to_rfc3339())
        }),
        Value::String(s) if !s.is_empty() => Some(if s.ends_with('Z') || s.contains('+') {
            s.clone()
        } else {
            format!("{s}Z")
        }),
        _ => None,
    };
    let mut details = Map::new();
    for k in ["contexts", "extra", "user", "request", "sdk", "transaction"] {
        if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
            details.insert(k.to_owned(), x.clone());
        }
    }
    let fingerprint = v["fingerprint"].as_array().map(|parts| {
        parts
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    });
    Ok(LogErrorInput {
        service,
        severity,
        error_type,
        message,
        details: (!details.is_empty()).then(|| Value::Object(details).into()),
        stack_trace,
        agent: None,
        timestamp,
        event_id: str_of(&v["event_id"]),
        category: None,
        environment: str_of(&v["environment"]),
        release: str_of(&v["release"]),
        tags: (!tags.is_empty()).then_some(Value::Object(tags)),
        fingerprint: fingerprint.filter(|f| !f.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn keys_come_from_the_header_or_the_query() {
        let h = "Sentry sentry_version=7, sentry_client=sentry.python/2.0.0, sentry_key=abc123, sentry_secret=x";
        assert_eq!(sentry_key(Some(h), None).as_deref(), Some("abc123"));
        assert_eq!(
            sentry_key(None, Some("sentry_version=7&sentry_key=def456")).as_deref(),
            Some("def456")
        );
        assert_eq!(
            sentry_key(Some("Sentry sentry_version=7"), Some("sentry_key=q1")).as_deref(),
            Some("q1")
        );
        assert_eq!(sentry_key(None, None), None);
        assert_eq!(sentry_key(Some("Sentry sentry_key=bad key!"), None), None);
        assert_eq!(sentry_key(Some("Sentry sentry_key="), None), None);
    }

    #[test]
    fn bodies_decompress_within_the_limit() {
        let text = b"{\"hello\":\"world\"}".repeat(10);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress(Some("gzip"), &gz, 1000).unwrap(), text);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&text).unwrap();
        assert_eq!(
            decompress(Some("deflate"), &z.finish().unwrap(), 1000).unwrap(),
            text
        );
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&text).unwrap();
        assert_eq!(
            decompress(Some("deflate"), &raw.finish().unwrap(), 1000).unwrap(),
            text
        );
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(&text).unwrap();
        }
        assert_eq!(decompress(Some("br"), &br, 1000).unwrap(), text);
        assert_eq!(decompress(None, &text, 1000).unwrap(), text);
        // A bomb: 10 MB of zeros in a few KB.
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![0u8; 10_000_000]).unwrap();
        let bomb = bomb.finish().unwrap();
        assert!(bomb.len() < 20_000);
        assert_eq!(
            decompress(Some("gzip"), &bomb, 1_000_000)
                .unwrap_err()
                .code(),
            "payload_too_large"
        );
        assert_eq!(
            decompress(Some("gzip"), b"not gzip", 1000)
                .unwrap_err()
                .code(),
            "invalid"
        );
        assert_eq!(
            decompress(Some("zstd"), b"x", 1000).unwrap_err().field(),
            Some("content-encoding")
        );
    }

    #[test]
    fn envelopes_are_framed_by_length_or_newline() {
        let event = br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","message":"hi"}"#;
        let mut env = Vec::new();
        env.extend_from_slice(
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"http://k@h/1\"}\n",
        );
        env.extend_from_slice(
            format!("{{\"type\":\"event\",\"length\":{}}}\n", event.len()).as_bytes(),
        );
        env.extend_from_slice(event);
        env.extend_from_slice(b"\n{\"type\":\"attachment\",\"length\":3}\nab\n\n");
        env.extend_from_slice(b"{\"type\":\"session\"}\n{\"sid\":\"x\"}\n");
        let e = parse_envelope(&env).unwrap();
        let kinds: Vec<&str> = e.items.iter().map(|i| i.kind.as_str()).collect();
        assert_eq!(kinds, ["event", "attachment", "session"]);
        assert_eq!(e.items[0].payload, event);
        assert_eq!(e.items[1].payload, b"ab\n");
        assert_eq!(e.items[2].payload, b"{\"sid\":\"x\"}");
        // At the very end the newline is optional.
        let e = parse_envelope(b"{}\n{\"type\":\"event\",\"length\":2}\n{}").unwrap();
        assert_eq!(e.items[0].payload, b"{}");
        for (bad, why) in [
            (&b"not json\n"[..], "header is not JSON"),
            (b"[]\n", "must be a JSON object"),
            (b"{}\n{\"length\":2}\n{}", "no type"),
            (
                b"{}\n{\"type\":\"event\",\"length\":99}\n{}",
                "runs past the end",
            ),
            (
                b"{}\n{\"type\":\"event\",\"length\":\"2\"}\n{}",
                "must be a number",
            ),
            (b"{}\n{oops\n", "header is not JSON"),
        ] {
            let e = parse_envelope(bad).unwrap_err();
            assert!(
                e.message().contains(why),
                "{}: {}",
                String::from_utf8_lossy(bad),
                e.message()
            );
        }
    }

    #[test]
    fn events_map_to_faultline_input() {
        let v = json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "timestamp": 1_700_000_000.25,
            "level": "fatal",
            "platform": "python",
            "server_name": "web-1",
            "environment": "production",
            "release": "shop@1.2.3",
            "tags": [["region", "eu"], ["service", "checkout"]],
            "fingerprint": ["{{ default }}", "db"],
            "user": { "email": "a@b.c" },
            "exception": { "values": [
                { "type": "OSError", "value": "socket closed", "stacktrace": { "frames": [
                    { "filename": "db.py", "abs_path": "/app/db.py", "function": "connect", "lineno": 10, "in_app": true }
                ]}},
                { "type": "ConnectionError", "value": "db unreachable", "module": "app.errors", "stacktrace": { "frames": [
                    { "filename": "site-packages/requests/api.py", "abs_path": "/usr/lib/python3/site-packages/requests/api.py", "function": "get", "lineno": 5, "in_app": false },
                    { "filename": "views.py", "abs_path": "/app/views.py", "function": "checkout", "lineno": 42, "context_line": "  pay(cart)", "in_app": true }
                ]}}
            ]}
        });
        let e = map_event(&v).unwrap();
        assert_eq!(
            (e.error_type.as_str(), e.message.as_str()),
            ("ConnectionError", "db unreachable")
        );
        assert_eq!(
            (e.service.as_str(), e.severity.as_str()),
            ("checkout", "fatal")
        );
        assert_eq!(e.environment.as_deref(), Some("production"));
        assert_eq!(e.release.as_deref(), Some("shop@1.2.3"));
        assert_eq!(
            e.event_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(
            e.fingerprint,
            Some(vec!["{{ default }}".to_owned(), "db".to_owned()])
        );
        assert_eq!(e.tags.as_ref().unwrap()["region"], "eu");
        assert_eq!(e.tags.as_ref().unwrap()["platform"], "python");
        let details: Value = serde_json::from_str(e.details.as_ref().unwrap().get()).unwrap();
        assert_eq!(details["user"]["email"], "a@b.c");
        assert!(
            e.timestamp
                .as_deref()
                .unwrap()
                .starts_with("2023-11-14T22:13:20.25")
        );
        let stack = e.stack_trace.unwrap();
        assert!(
            stack.contains("File \"/app/views.py\", line 42, in checkout\n    pay(cart)"),
            "{stack}"
        );
        assert!(
            stack.contains("OSError: socket closed")
                && stack.ends_with("ConnectionError: db unreachable"),
            "{stack}"
        );
        let frames = crate::errors::pure::stack_signature(&stack);
        assert!(frames.contains("checkout"), "{frames}");

        // A message event; the host is the service when no tag says otherwise.
        let m = map_event(&json!({ "logentry": { "formatted": "disk 91% full" }, "level": "warning", "server_name": "db-2" })).unwrap();
        assert_eq!(
            (
                m.error_type.as_str(),
                m.message.as_str(),
                m.service.as_str()
            ),
            ("Message", "disk 91% full", "db-2")
        );
        assert_eq!(m.stack_trace, None);
        let m = map_event(&json!({ "message": "plain", "platform": "node" })).unwrap();
        assert_eq!(
            (m.message.as_str(), m.service.as_str(), m.severity.as_str()),
            ("plain", "node", "error")
        );
        assert!(map_event(&json!({ "level": "error" })).is_err());
        assert!(map_event(&json!([1, 2])).is_err());
    }
}

//! Process-wide counters for `/metrics` (Prometheus text format). Labels are bounded sets —
//! routes as matched, methods, statuses, reasons — never tenant ids or free text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

/// Upper bounds of the request-duration buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the ingest batch-size buckets, in events.
pub const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0];

/// A histogram with fixed buckets.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (c, b) in self.counts.iter_mut().zip(bounds) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in bounds.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Everything counted in this process.
#[derive(Default)]
pub struct Metrics {
    /// (route, method, status) → request durations.
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    events_ingested: AtomicU64,
    /// reason (an error code) → events refused.
    events_rejected: Mutex<BTreeMap<String, u64>>,
    batches: Mutex<Histogram>,
    groups_created: AtomicU64,
    live_clients: AtomicI64,
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

impl Metrics {
    /// One answered HTTP request.
    pub fn http(&self, route: &str, method: &str, status: u16, secs: f64) {
        let mut http = self.http.lock().unwrap_or_else(|p| p.into_inner());
        http.entry((route.to_owned(), method.to_owned(), status))
            .or_default()
            .observe(&DURATION_BUCKETS, secs);
    }

    /// A committed ingest batch of `events` new events creating `groups` groups.
    pub fn batch(&self, events: usize, groups: usize) {
        self.events_ingested
            .fetch_add(events as u64, Ordering::Relaxed);
        self.groups_created
            .fetch_add(groups as u64, Ordering::Relaxed);
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(&BATCH_BUCKETS, events as f64);
    }

    /// `n` events refused for `reason` (an error code: invalid, rate_limited, …).
    pub fn rejected(&self, reason: &str, n: u64) {
        *self
            .events_rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason.to_owned())
            .or_default() += n;
    }

    /// A live-feed client connected (`+1`) or left (`-1`).
    pub fn live_clients(&self, delta: i64) {
        self.live_clients.fetch_add(delta, Ordering::Relaxed);
    }

    /// The counters in Prometheus text format, followed by `gauges` (name, help, type,
    /// rows of (labels, value)) measured at scrape time.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        let head = |out: &mut String, name: &str, help: &str, kind: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "faultline_http_request_duration_seconds",
            "HTTP requests by matched route, method and status, with their durations.",
            "histogram",
        );
        for ((route, method, status), h) in
            self.http.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{status}\"",
                escape(route),
                escape(method)
            );
            h.render(
                &mut out,
                "faultline_http_request_duration_seconds",
                &labels,
                &DURATION_BUCKETS,
            );
        }
        head(
            &mut out,
            "faultline_events_ingested_total",
            "Events stored (committed) by the ingest writers.",
            "counter",
        );
        let _ = writeln!(
            out,
            "faultline_events_ingested_total {}",
            self.events_ingested.load(Ordering::Relaxed)
        );
        head(
            &mut out,
            "faultline_events_rejected_total",
            "Events refused, by reason (invalid, rate_limited, payload_too_large, unavailable, …).",
            "counter",
        );
        for (reason, n) in self
            .events_rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "faultline_events_rejected_total{{reason=\"{}\"}} {n}",
                escape(reason)
            );
        }
        head(
            &mut out,
            "faultline_ingest_batch_size_events",
            "Events per committed ingest batch.",
            "histogram",
        );
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .render(
                &mut out,
                "faultline_ingest_batch_size_events",
                "",
                &BATCH_BUCKETS,
            );
        head(
            &mut out,
            "faultline_groups_created_total",
            "Error groups created (first occurrences).",
            "counter",
        );
        let _ = writeln!(
            out,
            "faultline_groups_created_total {}",
            self.groups_created.load(Ordering::Relaxed)
        );
        head(
            &mut out,
            "faultline_live_clients",
            "Browsers connected to the live feed of this process.",
            "gauge",
        );
        let _ = writeln!(
            out,
            "faultline_live_clients {}",
            self.live_clients.load(Ordering::Relaxed).max(0)
        );
        for g in gauges {
            head(&mut out, g.name, g.help, g.kind);
            for (labels, v) in &g.rows {
                if labels.is_empty() {
                    let _ = writeln!(out, "{} {v}", g.name);
                } else {
                    let _ = writeln!(out, "{}{{{labels}}} {v}", g.name);
                }
            }
        }
        out
    }
}

/// A metric measured when scraped.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    /// `gauge` or `counter`.
    pub kind: &'static str,
    /// (labels as `k="v",…`, value).
    pub rows: Vec<(String, f64)>,
}

/// A label value with `\`, `"` and newlines escaped.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.http("/api/errors/{id}", "GET", 200, 0.003);
        m.http("/api/errors/{id}", "GET", 200, 0.2);
        m.batch(3, 1);
        m.rejected("invalid", 2);
        m.live_clients(2);
        m.live_clients(-1);
        let text = m.render(&[Gauge {
            name: "faultline_fix_runs",
            help: "Fix runs by status.",
            kind: "gauge",
            rows: vec![("status=\"queued\"".into(), 4.0)],
        }]);
        for line in [
            "faultline_http_request_duration_seconds_bucket{route=\"/api/errors/{id}\",method=\"GET\",status=\"200\",le=\"0.005\"} 1",
            "faultline_http_request_duration_seconds_bucket{route=\"/api/errors/{id}\",method=\"GET\",status=\"200\",le=\"0.25\"} 2",
            "faultline_http_request_duration_seconds_count{route=\"/api/errors/{id}\",method=\"GET\",status=\"200\"} 2",
            "faultline_events_ingested_total 3",
            "faultline_events_rejected_total{reason=\"invalid\"} 2",
            "faultline_ingest_batch_size_events_bucket{le=\"5\"} 1",
            "faultline_groups_created_total 1",
            "faultline_live_clients 1",
            "# TYPE faultline_fix_runs gauge",
            "faultline_fix_runs{status=\"queued\"} 4",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

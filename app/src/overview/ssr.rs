//! The overview's queries and its trend chart.

use super::{Overview, RecentActivity};
use crate::charts::{Bar, severity_bars, stacked_bars};
use crate::error::AppError;
use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc};
use sqlx::PgPool;

/// The trend chart's range: how far back, in buckets of what width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendRange {
    /// 24 one-hour bars.
    Day,
    /// 28 six-hour bars.
    Week,
    /// 30 one-day bars.
    Month,
}

impl TrendRange {
    /// The URL value (`24h`, `7d`, `30d`; none means 24h).
    pub fn parse(v: Option<&str>) -> Result<Self, AppError> {
        match v.map(str::trim).unwrap_or_default() {
            "" | "24h" => Ok(Self::Day),
            "7d" => Ok(Self::Week),
            "30d" => Ok(Self::Month),
            _ => Err(AppError::invalid("range", "must be one of 24h, 7d, 30d")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    fn bucket_hours(self) -> i64 {
        match self {
            Self::Day => 1,
            Self::Week => 6,
            Self::Month => 24,
        }
    }

    fn buckets(self) -> i64 {
        match self {
            Self::Day => 24,
            Self::Week => 28,
            Self::Month => 30,
        }
    }

    /// How many bars share one axis label.
    fn label_every(self) -> usize {
        match self {
            Self::Day => 3,
            Self::Week => 4,
            Self::Month => 5,
        }
    }

    /// The start of the first bucket: buckets end with the current one and align to their
    /// width in UTC (whole hours, 00/06/12/18 h, midnight).
    pub fn start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
        let width = self.bucket_hours();
        let current = hour - Duration::hours(i64::from(hour.hour()) % width);
        current - Duration::hours(width * (self.buckets() - 1))
    }

    fn label(self, t: DateTime<Utc>) -> String {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        match self {
            Self::Day => format!("{:02}:00", t.hour()),
            Self::Week => format!(
                "{} {:02}h",
                DAYS[t.weekday().num_days_from_monday() as usize],
                t.hour()
            ),
            Self::Month => format!("{:02}-{:02}", t.month(), t.day()),
        }
    }
}

/// The bars of `range` from (bucket start, severity, count) rows: every bucket present,
/// empty ones as zero.
pub fn trend_bars(
    range: TrendRange,
    now: DateTime<Utc>,
    rows: &[(DateTime<Utc>, String, i64)],
) -> Vec<Bar> {
    severity_bars(
        range.start(now),
        Duration::hours(range.bucket_hours()),
        range.buckets(),
        |at| range.label(at),
        rows,
    )
}

/// The overview of `tenant`. Agents silent for longer than `offline_after_secs` are offline.
pub async fn overview(
    pool: &PgPool,
    tenant: i64,
    range: TrendRange,
    offline_after_secs: i64,
    ingest_url: String,
) -> Result<Overview, AppError> {
    let now = Utc::now();
    let counts = sqlx::query!(
        r#"SELECT
             (SELECT COALESCE(sum(count) FILTER (WHERE hour > date_trunc('hour', now()) - interval '24 hours'), 0)::int8
              FROM group_counts_hourly
              WHERE tenant_id = $1 AND hour > date_trunc('hour', now()) - interval '48 hours') AS "events_24h!",
             (SELECT COALESCE(sum(count) FILTER (WHERE hour <= date_trunc('hour', now()) - interval '24 hours'), 0)::int8
              FROM group_counts_hourly
              WHERE tenant_id = $1 AND hour > date_trunc('hour', now()) - interval '48 hours') AS "events_prev!",
             (SELECT count(*) FROM error_groups
              WHERE tenant_id = $1 AND status IN ('unresolved', 'regressed')) AS "unresolved!",
             (SELECT count(*) FROM error_groups
              WHERE tenant_id = $1 AND first_seen >= now() - interval '24 hours') AS "new_groups!",
             (SELECT count(DISTINCT group_id) FROM activity
              WHERE tenant_id = $1 AND kind = 'regressed' AND at >= now() - interval '24 hours') AS "regressions!",
             (SELECT count(*) FROM agents
              WHERE tenant_id = $1 AND last_heartbeat_at >= now() - make_interval(secs => $2)) AS "agents_online!",
             (SELECT count(*) FROM agents WHERE tenant_id = $1) AS "agents_total!",
             (SELECT count(*) FROM fix_runs WHERE tenant_id = $1 AND status = 'succeeded'
                AND finished_at >= now() - interval '7 days') AS "fixes_succeeded!",
             (SELECT count(*) FROM fix_runs WHERE tenant_id = $1 AND status IN ('succeeded', 'failed', 'rolled_back')
                AND finished_at >= now() - interval '7 days') AS "fixes_finished!",
             (SELECT count(*) FROM fix_runs WHERE tenant_id = $1 AND status = 'pending_approval') AS "fixes_waiting!",
             EXISTS (SELECT 1 FROM error_groups WHERE tenant_id = $1) AS "has_any!""#,
        tenant,
        offline_after_secs as f64
    )
    .fetch_one(pool)
    .await?;
    let start = range.start(now);
    let trend = sqlx::query!(
        r#"SELECT date_bin(make_interval(hours => $3), h.hour, $2) AS "bucket!", g.severity,
                  sum(h.count)::int8 AS "count!"
           FROM group_counts_hourly h
           JOIN error_groups g ON g.tenant_id = h.tenant_id AND g.id = h.group_id
           WHERE h.tenant_id = $1 AND h.hour >= $2
           GROUP BY 1, 2"#,
        tenant,
        start,
        range.bucket_hours() as i32
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.bucket, r.severity, r.count))
    .collect::<Vec<_>>();
    let bars = trend_bars(range, now, &trend);
    let mut chart_totals = [0i64; 4];
    for b in &bars {
        for (total, c) in chart_totals.iter_mut().zip(b.counts) {
            *total += c;
        }
    }
    let chart_svg = stacked_bars(&bars, range.label_every()).map_err(|e| {
        tracing::error!(error = %e, "drawing the trend chart failed");
        AppError::Internal
    })?;
    let top = crate::errors::read::top(pool, tenant, Some(5), Some(24))
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let activity = recent_activity(pool, tenant, 12).await?;
    Ok(Overview {
        now,
        events_24h: counts.events_24h,
        events_previous_24h: counts.events_prev,
        unresolved: counts.unresolved,
        new_groups_24h: counts.new_groups,
        regressions_24h: counts.regressions,
        agents_online: counts.agents_online,
        agents_total: counts.agents_total,
        fixes_succeeded_7d: counts.fixes_succeeded,
        fixes_finished_7d: counts.fixes_finished,
        fixes_waiting: counts.fixes_waiting,
        range: range.as_str().to_owned(),
        chart_svg,
        chart_totals,
        top,
        activity,
        has_any: counts.has_any,
        ingest_url,
    })
}

/// The latest `limit` activity entries of `tenant`, newest first, with their groups' titles.
pub async fn recent_activity(
    pool: &PgPool,
    tenant: i64,
    limit: i64,
) -> Result<Vec<RecentActivity>, AppError> {
    Ok(sqlx::query_as!(
        RecentActivity,
        r#"SELECT a.group_id, g.error_type || ': ' || g.title AS "group_title!", a.at, a.kind, a.actor, a.notes
           FROM activity a
           JOIN error_groups g ON g.tenant_id = a.tenant_id AND g.id = a.group_id
           WHERE a.tenant_id = $1
           ORDER BY a.at DESC, a.id DESC LIMIT $2"#,
        tenant,
        limit
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(TrendRange::parse(None).unwrap(), TrendRange::Day);
        assert_eq!(TrendRange::parse(Some("")).unwrap(), TrendRange::Day);
        assert_eq!(TrendRange::parse(Some("7d")).unwrap(), TrendRange::Week);
        assert_eq!(TrendRange::parse(Some("30d")).unwrap(), TrendRange::Month);
        for bad in ["1h", "7", "30D", "<x>"] {
            let e = TrendRange::parse(Some(bad)).unwrap_err();
            assert_eq!(e.field(), Some("range"), "{bad}");
        }
    }

    #[test]
    fn buckets_end_with_the_current_one() {
        let now = at(2026, 11, 30, 17, 42);
        assert_eq!(TrendRange::Day.start(now), at(2026, 11, 29, 18, 0));
        // The current 6-hour bucket starts at 12:00; 27 more before it.
        assert_eq!(TrendRange::Week.start(now), at(2026, 11, 23, 18, 0));
        assert_eq!(TrendRange::Month.start(now), at(2026, 11, 1, 0, 0));
    }

    #[test]
    fn bars_fill_gaps_and_sum_severities() {
        let now = at(2026, 11, 30, 17, 42);
        let rows = vec![
            (at(2026, 11, 30, 17, 0), "error".to_owned(), 5),
            (at(2026, 11, 30, 17, 0), "critical".to_owned(), 1),
            (at(2026, 11, 29, 18, 0), "info".to_owned(), 2),
            (at(2026, 11, 29, 18, 0), "bogus".to_owned(), 9),
        ];
        let bars = trend_bars(TrendRange::Day, now, &rows);
        assert_eq!(bars.len(), 24);
        assert_eq!(bars[0].label, "18:00");
        assert_eq!(bars[0].counts, [0, 0, 0, 2]);
        assert_eq!(bars[23].label, "17:00");
        assert_eq!(bars[23].counts, [1, 5, 0, 0]);
        assert!(bars[1..23].iter().all(|b| b.counts == [0; 4]));
        let week = trend_bars(TrendRange::Week, now, &[]);
        assert_eq!((week.len(), week[27].label.as_str()), (28, "Mon 12h"));
        let month = trend_bars(TrendRange::Month, now, &[]);
        assert_eq!((month.len(), month[0].label.as_str()), (30, "11-01"));
    }
}

//! Charts drawn on the server with plotters as SVG, so pages show them before (and without)
//! any WASM. Labels are numbers, times and fixed names; plotters escapes text anyway.

use chrono::{DateTime, Duration, Utc};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// Severities from the worst, with their colours (the same as the badges' in style/main.css).
pub const SEVERITY_COLOURS: [(&str, RGBColor); 4] = [
    ("critical", RGBColor(0x9b, 0x1c, 0x1c)),
    ("error", RGBColor(0xdc, 0x26, 0x26)),
    ("warning", RGBColor(0xd9, 0x77, 0x06)),
    ("info", RGBColor(0x25, 0x63, 0xeb)),
];

/// One bar of a stacked chart: its axis label and a count per severity (as
/// [`SEVERITY_COLOURS`] orders them).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub counts: [i64; 4],
}

/// `buckets` bars of `width` from `start`, each labelled by `label`, counting (bucket start,
/// severity, count) rows by severity; empty buckets are zero, unknown severities ignored.
pub fn severity_bars(
    start: DateTime<Utc>,
    width: Duration,
    buckets: i64,
    label: impl Fn(DateTime<Utc>) -> String,
    rows: &[(DateTime<Utc>, String, i64)],
) -> Vec<Bar> {
    (0..buckets)
        .map(|i| {
            let at = start + width * i as i32;
            let mut counts = [0i64; 4];
            for (_, severity, count) in rows.iter().filter(|(t, _, _)| *t == at) {
                if let Some(s) = SEVERITY_COLOURS.iter().position(|(n, _)| n == severity) {
                    counts[s] += count;
                }
            }
            Bar {
                label: label(at),
                counts,
            }
        })
        .collect()
}

/// Width and height of the SVG's coordinate space; CSS scales it to the page.
const SIZE: (u32, u32) = (960, 300);

/// Events per time bucket as stacked bars by severity, with a legend, as an SVG document.
/// `every` is how many bars share one axis label.
pub fn stacked_bars(bars: &[Bar], every: usize) -> Result<String, String> {
    let mut svg = String::new();
    draw(&mut svg, bars, every.max(1))?;
    Ok(svg)
}

fn draw(svg: &mut String, bars: &[Bar], every: usize) -> Result<(), String> {
    fn text(e: impl std::fmt::Display) -> String {
        e.to_string()
    }
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    let n = bars.len().max(1) as u32;
    let top = bars
        .iter()
        .map(|b| b.counts.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(4);
    // Head room for the legend.
    let y_max = top + top / 4 + 1;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d((0..n).into_segmented(), 0..y_max)
        .map_err(text)?;
    let grid = RGBAColor(128, 128, 128, 0.25);
    let label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) if (*i as usize).is_multiple_of(every) => bars
            .get(*i as usize)
            .map(|b| b.label.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(grid)
        .light_line_style(TRANSPARENT)
        .axis_style(RGBAColor(128, 128, 128, 0.6))
        .x_labels(bars.len().max(1))
        .y_labels(5)
        .x_label_formatter(&label)
        .y_label_formatter(&|y| compact(*y))
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(text)?;
    for (s, (name, colour)) in SEVERITY_COLOURS.iter().enumerate() {
        let rects = bars.iter().enumerate().filter_map(|(i, b)| {
            let base: i64 = b.counts[..s].iter().sum();
            let count = b.counts[s];
            (count > 0).then(|| {
                let mut r = Rectangle::new(
                    [
                        (SegmentValue::Exact(i as u32), base),
                        (SegmentValue::Exact(i as u32 + 1), base + count),
                    ],
                    colour.filled(),
                );
                r.set_margin(0, 0, 2, 2);
                r
            })
        });
        let colour = *colour;
        chart
            .draw_series(rects)
            .map_err(text)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(TRANSPARENT)
        .border_style(TRANSPARENT)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(text)?;
    root.present().map_err(text)?;
    Ok(())
}

/// 1234 → "1.2k", 2_500_000 → "2.5M": axis labels stay short.
pub fn compact(n: i64) -> String {
    match n {
        ..1_000 => n.to_string(),
        1_000..1_000_000 => trim(format!("{:.1}", n as f64 / 1e3)) + "k",
        _ => trim(format!("{:.1}", n as f64 / 1e6)) + "M",
    }
}

fn trim(s: String) -> String {
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, counts: [i64; 4]) -> Bar {
        Bar {
            label: label.into(),
            counts,
        }
    }

    /// The text of every `<text>` element, trimmed.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = &t[t.find('>')? + 1..t.find("</text>")?];
                Some(body.trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn compact_numbers() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1k"),
            (1_250, "1.2k"),
            (999_000, "999k"),
            (2_500_000, "2.5M"),
        ] {
            assert_eq!(compact(n), s, "{n}");
        }
    }

    #[test]
    fn draws_a_bar_per_count_and_a_legend() {
        let svg = stacked_bars(
            &[
                bar("10:00", [1, 2, 0, 0]),
                bar("11:00", [0, 0, 3, 4]),
                bar("12:00", [0, 0, 0, 0]),
            ],
            1,
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        // Four non-empty segments plus four legend swatches.
        assert_eq!(svg.matches("<rect").count(), 8, "{svg}");
        let texts = texts(&svg);
        for l in [
            "10:00", "11:00", "12:00", "critical", "error", "warning", "info",
        ] {
            assert!(texts.iter().any(|t| t == l), "{l} missing from {texts:?}");
        }
    }

    #[test]
    fn empty_and_hostile_labels_are_safe() {
        assert!(stacked_bars(&[], 1).unwrap().contains("<svg"));
        let svg = stacked_bars(&[bar("<script>&", [1, 0, 0, 0])], 1).unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;&amp;"), "{svg}");
    }

    #[test]
    fn every_nth_label() {
        let bars: Vec<Bar> = (0..6)
            .map(|i| bar(&format!("L{i}"), [1, 0, 0, 0]))
            .collect();
        let svg = stacked_bars(&bars, 3).unwrap();
        let labels: Vec<String> = texts(&svg)
            .into_iter()
            .filter(|t| t.starts_with('L'))
            .collect();
        assert_eq!(labels, ["L0", "L3"]);
    }
}

//! The overview's hourly bar chart, laid out on the server: one stacked bar
//! per hour (logins succeeded, failed, rate-limit and CSRF refusals), as
//! the rectangles an inline `<svg>` draws. The template only places them:
//! no script, no style attribute (colours come from the stylesheet, by
//! class), so it works under the pages' CSP and without JavaScript.

use serde::Serialize;

use crate::admin::stats::Bucket;

/// The drawing's size, in its own units (the `viewBox`).
pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 220;
/// Room for the scale on the left and the hours below.
const LEFT: u32 = 40;
const BOTTOM: u32 = 24;
const TOP: u32 = 10;

/// One series: its class (the colour) and what it counts.
const SERIES: [(&str, &str); 4] = [
    ("bar-succeeded", "logins succeeded"),
    ("bar-failed", "logins failed"),
    ("bar-limited", "rate-limit refusals"),
    ("bar-csrf", "CSRF refusals"),
];

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub class: &'static str,
    /// The tooltip: the hour, the count and what it counts.
    pub title: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Label {
    pub x: u32,
    pub y: u32,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub rects: Vec<Rect>,
    /// The hours, every few bars.
    pub hours: Vec<Label>,
    /// The scale's top value, and its place.
    pub top: Label,
    /// The baseline's height.
    pub baseline: u32,
}

/// The smallest of 1, 2, 5 x 10^n that is at least `value` (at least 1).
fn nice_ceiling(value: i64) -> i64 {
    let mut step = 1;
    loop {
        for factor in [1, 2, 5] {
            if step * factor >= value {
                return step * factor;
            }
        }
        step *= 10;
    }
}

/// `buckets` (oldest first) as stacked bars.
pub fn layout(buckets: &[Bucket]) -> Chart {
    let plot_height = HEIGHT - BOTTOM - TOP;
    let baseline = HEIGHT - BOTTOM;
    let totals = buckets
        .iter()
        .map(|b| b.logins_succeeded + b.logins_failed + b.rate_limited + b.csrf_rejected);
    let scale = nice_ceiling(totals.max().unwrap_or(0));
    let slots = u32::try_from(buckets.len().max(1)).unwrap_or(u32::MAX);
    let step = (WIDTH - LEFT) / slots;
    let bar = (step * 3 / 4).max(1);
    // Heights in whole units, rounded from the top of each stack down, so
    // a stack's segments add up to the stack's own rounded height.
    let height_of = |count: i64| -> u32 {
        let scaled = i128::from(count) * i128::from(plot_height) / i128::from(scale);
        u32::try_from(scaled).unwrap_or(plot_height).min(plot_height)
    };
    let mut rects = Vec::new();
    let mut hours = Vec::new();
    for (index, bucket) in (0u32..).zip(buckets) {
        let x = LEFT + index * step + (step - bar) / 2;
        let hour = bucket.start.get(11..16).unwrap_or("").to_owned();
        let counts = [
            bucket.logins_succeeded,
            bucket.logins_failed,
            bucket.rate_limited,
            bucket.csrf_rejected,
        ];
        let mut below = 0i64;
        for ((class, what), count) in SERIES.into_iter().zip(counts) {
            if count <= 0 {
                continue;
            }
            let bottom = baseline - height_of(below);
            below += count;
            let top = baseline - height_of(below);
            rects.push(Rect {
                x,
                y: top,
                width: bar,
                height: (bottom - top).max(1),
                class,
                title: format!("{hour} UTC: {count} {what}"),
            });
        }
        if index % 6 == 0 {
            hours.push(Label {
                x: x + bar / 2,
                y: HEIGHT - 6,
                text: hour,
            });
        }
    }
    Chart {
        width: WIDTH,
        height: HEIGHT,
        rects,
        hours,
        top: Label {
            x: LEFT - 6,
            y: TOP + 10,
            text: scale.to_string(),
        },
        baseline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(hour: u32, counts: [i64; 4]) -> Bucket {
        Bucket {
            start: format!("2026-12-06T{hour:02}:00:00Z"),
            logins_succeeded: counts[0],
            logins_failed: counts[1],
            rate_limited: counts[2],
            csrf_rejected: counts[3],
        }
    }

    #[test]
    fn scales_are_round() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(4_000), 5_000);
    }

    #[test]
    fn bars_stack_within_the_plot() {
        let buckets: Vec<_> = (0..24).map(|h| bucket(h, [0; 4])).collect();
        let empty = layout(&buckets);
        assert!(empty.rects.is_empty(), "nothing counted, nothing drawn");
        assert_eq!(empty.hours.len(), 4);
        assert_eq!(empty.hours[1].text, "06:00");

        let mut buckets = buckets;
        buckets[23] = bucket(23, [6, 3, 1, 0]);
        buckets[0] = bucket(0, [1, 0, 0, 0]);
        let chart = layout(&buckets);
        assert_eq!(chart.top.text, "10");
        assert_eq!(chart.rects.len(), 4, "one rect per non-zero count");
        let last: Vec<_> = chart
            .rects
            .iter()
            .filter(|r| r.title.starts_with("23:00"))
            .collect();
        assert_eq!(last.len(), 3);
        // Stacked: each segment sits on the one below; ten of a scale of
        // ten fill the plot.
        assert_eq!(last[0].y + last[0].height, chart.baseline);
        assert_eq!(last[1].y + last[1].height, last[0].y);
        assert_eq!(last[2].y + last[2].height, last[1].y);
        assert_eq!(chart.baseline - last[2].y, HEIGHT - BOTTOM - TOP);
        assert_eq!(last[1].title, "23:00 UTC: 3 logins failed");
        assert!(chart.rects.iter().all(|r| r.x + r.width <= WIDTH && r.y >= TOP));
    }
}

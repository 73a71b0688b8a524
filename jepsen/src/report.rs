//! The report: throughput, latency percentiles, availability in each fault
//! window, and the timeline plot (SVG) of throughput and latency with the
//! fault windows shaded.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::history::{Op, Outcome};

/// One push or read, as the report sees it (times in µs).
struct Sample {
    push: bool,
    start: u64,
    end: u64,
    outcome: Outcome,
}

struct Window {
    fault: String,
    start: u64,
    end: u64,
}

/// A line of the plot: its name, colour and points.
type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

pub struct Report {
    samples: Vec<Sample>,
    windows: Vec<Window>,
    /// The end of the workload (the last non-final operation), µs.
    span: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn latencies_ms<'a>(samples: impl Iterator<Item = &'a Sample>) -> Vec<f64> {
    let mut v: Vec<f64> = samples.map(|s| (s.end - s.start) as f64 / 1000.0).collect();
    v.sort_by(f64::total_cmp);
    v
}

impl Report {
    pub fn new(ops: &[Op]) -> Report {
        let mut samples = Vec::new();
        let mut windows = Vec::new();
        for op in ops {
            match op {
                Op::Push { start, end, outcome, .. } => {
                    samples.push(Sample { push: true, start: *start, end: *end, outcome: *outcome })
                }
                Op::Read { start, end, outcome, last: false, .. } => {
                    samples.push(Sample { push: false, start: *start, end: *end, outcome: *outcome })
                }
                Op::Nemesis { fault, start, end } => {
                    windows.push(Window { fault: fault.clone(), start: *start, end: *end })
                }
                Op::Read { .. } | Op::Notify { .. } | Op::Ruler { .. } => {}
            }
        }
        samples.sort_by_key(|s| s.start);
        let span = samples.iter().map(|s| s.end).max().unwrap_or(0).max(1);
        Report { samples, windows, span }
    }

    fn in_window(&self, t: u64) -> bool {
        self.windows.iter().any(|w| (w.start..w.end).contains(&t))
    }

    /// The report as text: totals, latency percentiles, availability.
    pub fn text(&self) -> String {
        let secs = self.span as f64 / 1e6;
        let pushes: Vec<&Sample> = self.samples.iter().filter(|s| s.push).collect();
        let reads: Vec<&Sample> = self.samples.iter().filter(|s| !s.push).collect();
        let ok = |v: &[&Sample]| v.iter().filter(|s| s.outcome == Outcome::Ok).count();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "throughput: {:.1} pushes/s ({:.1} ok/s), {:.1} reads/s over {secs:.1}s",
            pushes.len() as f64 / secs,
            ok(&pushes) as f64 / secs,
            reads.len() as f64 / secs
        );
        for (name, set) in [("push", &pushes), ("read", &reads)] {
            let lat = latencies_ms(set.iter().copied().filter(|s| s.outcome == Outcome::Ok));
            let _ = writeln!(
                out,
                "{name} latency (ok, ms): p50={:.1} p90={:.1} p99={:.1} max={:.1}",
                percentile(&lat, 50.0),
                percentile(&lat, 90.0),
                percentile(&lat, 99.0),
                lat.last().copied().unwrap_or(0.0)
            );
        }
        let availability = |set: &[&Sample]| {
            if set.is_empty() { "-".to_string() } else { format!("{:.1}%", 100.0 * ok(set) as f64 / set.len() as f64) }
        };
        let _ = writeln!(out, "availability (ok / attempted, by start time):");
        let quiet: Vec<&Sample> = pushes.iter().copied().filter(|s| !self.in_window(s.start)).collect();
        let quiet_reads: Vec<&Sample> = reads.iter().copied().filter(|s| !self.in_window(s.start)).collect();
        let _ = writeln!(
            out,
            "  no fault                         pushes {:>6} reads {:>6}",
            availability(&quiet),
            availability(&quiet_reads)
        );
        for w in &self.windows {
            let within = |s: &&Sample| (w.start..w.end).contains(&s.start);
            let p: Vec<&Sample> = pushes.iter().copied().filter(within).collect();
            let r: Vec<&Sample> = reads.iter().copied().filter(within).collect();
            let _ = writeln!(
                out,
                "  {:>5.1}s-{:>5.1}s {:<40} pushes {:>6} reads {:>6}",
                w.start as f64 / 1e6,
                w.end as f64 / 1e6,
                w.fault,
                availability(&p),
                availability(&r)
            );
        }
        out
    }

    /// The timeline: ok and failed pushes per second on top, push latency
    /// (median and worst per second) below, fault windows shaded on both.
    pub fn plot(&self, path: &Path, title: &str) -> Result<()> {
        let seconds = (self.span / 1_000_000 + 1) as usize;
        let mut ok = vec![0u32; seconds];
        let mut bad = vec![0u32; seconds];
        let mut lat: Vec<Vec<f64>> = vec![Vec::new(); seconds];
        for s in self.samples.iter().filter(|s| s.push) {
            let b = ((s.start / 1_000_000) as usize).min(seconds - 1);
            if s.outcome == Outcome::Ok {
                ok[b] += 1;
                lat[b].push((s.end - s.start) as f64 / 1000.0);
            } else {
                bad[b] += 1;
            }
        }
        let p50: Vec<f64> = lat
            .iter_mut()
            .map(|v| {
                v.sort_by(f64::total_cmp);
                percentile(v, 50.0)
            })
            .collect();
        let worst: Vec<f64> = lat.iter().map(|v| v.last().copied().unwrap_or(0.0)).collect();
        let x_max = seconds as f64;
        let rate_max = ok.iter().chain(&bad).copied().max().unwrap_or(1).max(1) as f64 * 1.1;
        let lat_max = worst.iter().copied().fold(1.0, f64::max) * 1.1;

        let root = SVGBackend::new(path, (1200, 720)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(|e| anyhow!("{e}"))?;
        let (top, bottom) = root.split_vertically(360);
        let shade = RGBColor(255, 160, 122).mix(0.35);
        let draw = |area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
                    y_max: f64,
                    y_desc: &str,
                    series: Vec<Series>|
         -> Result<()> {
            let mut chart = ChartBuilder::on(area)
                .margin(12)
                .x_label_area_size(32)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..x_max, 0f64..y_max)
                .map_err(|e| anyhow!("{e}"))?;
            chart
                .configure_mesh()
                .x_desc("seconds")
                .y_desc(y_desc)
                .light_line_style(WHITE)
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            chart
                .draw_series(self.windows.iter().map(|w| {
                    Rectangle::new([(w.start as f64 / 1e6, 0.0), (w.end as f64 / 1e6, y_max)], shade.filled())
                }))
                .map_err(|e| anyhow!("{e}"))?;
            chart
                .draw_series(
                    self.windows
                        .iter()
                        .map(|w| Text::new(w.fault.clone(), (w.start as f64 / 1e6, y_max * 0.97), ("sans-serif", 11))),
                )
                .map_err(|e| anyhow!("{e}"))?;
            for (name, color, points) in series {
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)))
                    .map_err(|e| anyhow!("{e}"))?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            Ok(())
        };
        let at = |v: &[u32]| v.iter().enumerate().map(|(i, c)| (i as f64 + 0.5, *c as f64)).collect::<Vec<_>>();
        let at_f = |v: &[f64]| v.iter().enumerate().map(|(i, c)| (i as f64 + 0.5, *c)).collect::<Vec<_>>();
        draw(
            &top,
            rate_max,
            "pushes per second",
            vec![("ok", RGBColor(46, 139, 87), at(&ok)), ("fail or info", RGBColor(200, 30, 30), at(&bad))],
        )?;
        draw(
            &bottom,
            lat_max,
            "push latency (ms)",
            vec![("median", RGBColor(30, 90, 200), at_f(&p50)), ("max", RGBColor(120, 120, 120), at_f(&worst))],
        )?;
        root.present().map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Line;

    fn push(start: u64, end: u64, outcome: Outcome) -> Op {
        Op::Push {
            process: "w0".into(),
            node: 0,
            stream: "s0".into(),
            lines: vec![Line { ts: 1, text: "w0-1".into() }],
            encoding: "json".into(),
            start,
            end,
            outcome,
            error: String::new(),
        }
    }

    #[test]
    fn availability_is_counted_per_fault_window() {
        let ops = vec![
            push(0, 1_000, Outcome::Ok),
            push(500_000, 501_000, Outcome::Ok),
            push(2_000_000, 2_001_000, Outcome::Info),
            push(2_500_000, 2_600_000, Outcome::Ok),
            Op::Nemesis { fault: "kill n1".into(), start: 1_900_000, end: 3_000_000 },
        ];
        let report = Report::new(&ops);
        let text = report.text();
        assert!(text.contains("no fault                         pushes 100.0%"), "{text}");
        assert!(text.contains("kill n1") && text.contains("pushes  50.0%"), "{text}");
        assert!(text.contains("push latency (ok, ms): p50=1.0"), "{text}");
        let dir = std::env::temp_dir().join(format!("jepsen-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let svg = dir.join("timeline.svg");
        report.plot(&svg, "test").unwrap();
        let drawn = std::fs::read_to_string(&svg).unwrap();
        assert!(drawn.contains("<svg") && drawn.contains("kill n1"), "{drawn}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

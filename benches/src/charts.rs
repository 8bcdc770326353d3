//! PNG charts (plotters, bitmap backend). Text uses a TrueType font found on the system
//! (ab_glyph, pure Rust); without one the charts are drawn without text.

use std::path::{Path, PathBuf};

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// Font files tried in order (`TTLMAP_BENCH_FONT` first).
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
];

const SIZE: (u32, u32) = (1200, 640);

/// Where charts go, and whether text can be drawn.
pub struct Charts {
    dir: PathBuf,
    text: bool,
}

type DynError = Box<dyn std::error::Error>;

fn load_font() -> bool {
    let env = std::env::var("TTLMAP_BENCH_FONT").ok();
    let candidates = env
        .iter()
        .map(String::as_str)
        .chain(FONT_CANDIDATES.iter().copied());
    for path in candidates {
        if let Ok(bytes) = std::fs::read(path) {
            // The font table wants `'static` bytes; one font per process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

/// A color per series, stable across charts (ttlmap is always the first series).
fn color(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 9] = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(23, 190, 207),
    ];
    PALETTE[i % PALETTE.len()]
}

/// "850 ns", "12 µs", "3.4 ms".
fn duration_label(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// One named series of values, one per group (bar charts) or per point (line charts).
pub struct Series<T> {
    /// Legend label.
    pub name: String,
    /// The values.
    pub values: Vec<T>,
}

impl Charts {
    /// Creates `dir` and looks for a font.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            text: load_font(),
        })
    }

    /// Whether labels are drawn (a font was found).
    pub fn has_text(&self) -> bool {
        self.text
    }

    /// Grouped vertical bars: one cluster per group, one bar per series.
    pub fn grouped_bars(
        &self,
        file: &str,
        title: &str,
        y_desc: &str,
        groups: &[String],
        series: &[Series<f64>],
    ) -> Result<PathBuf, DynError> {
        let path = self.dir.join(file);
        // One series: a bar per group, each its own color, no legend (the axis names them).
        let legend = self.text && series.len() > 1;
        {
            let root = BitMapBackend::new(&path, SIZE).into_drawing_area();
            root.fill(&WHITE)?;
            let y_max = series
                .iter()
                .flat_map(|s| s.values.iter().copied())
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::max)
                * (1.12
                    + if legend {
                        0.05 * series.len() as f64
                    } else {
                        0.0
                    });
            let y_max = if y_max > 0.0 { y_max } else { 1.0 };
            let n_groups = groups.len().max(1);
            let mut builder = ChartBuilder::on(&root);
            builder.margin(16);
            if self.text {
                builder
                    .caption(title, ("sans-serif", 26))
                    .x_label_area_size(40)
                    .y_label_area_size(70);
            }
            let mut chart = builder.build_cartesian_2d(0f64..n_groups as f64, 0f64..y_max)?;
            {
                let mut mesh = chart.configure_mesh();
                mesh.disable_x_mesh();
                if self.text {
                    let labels = groups.to_vec();
                    mesh.y_desc(y_desc)
                        .y_label_formatter(&|v| {
                            if *v >= 100.0 {
                                format!("{v:.0}")
                            } else {
                                format!("{v:.1}")
                            }
                        })
                        .x_labels(n_groups * 2 + 1)
                        .x_label_formatter(&move |x| {
                            let centre = x - x.floor();
                            if (centre - 0.5).abs() < 1e-6 {
                                labels.get(*x as usize).cloned().unwrap_or_default()
                            } else {
                                String::new()
                            }
                        })
                        .label_style(("sans-serif", 15))
                        .draw()?;
                } else {
                    mesh.x_labels(0).y_labels(5).draw()?;
                }
            }
            let width = 0.8 / series.len().max(1) as f64;
            for (si, s) in series.iter().enumerate() {
                let c = color(si);
                let bars = s
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(move |(gi, &v)| {
                        let x0 = gi as f64 + 0.1 + si as f64 * width;
                        let c = if legend { c } else { color(gi) };
                        Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], c.filled())
                    });
                let drawn = chart.draw_series(bars)?;
                if legend {
                    drawn.label(s.name.clone()).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled())
                    });
                }
            }
            if legend {
                draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            }
            root.present()?;
        }
        Ok(path)
    }

    /// Latency percentile curves: x = percentile (0–100, stretched toward the tail),
    /// y = nanoseconds on a log scale.
    pub fn percentile_lines(
        &self,
        file: &str,
        title: &str,
        series: &[Series<(f64, f64)>],
    ) -> Result<PathBuf, DynError> {
        let path = self.dir.join(file);
        {
            let root = BitMapBackend::new(&path, SIZE).into_drawing_area();
            root.fill(&WHITE)?;
            // x is -log10(1 - p): 1 = p90, 2 = p99, 3 = p99.9, ...
            let tail = |p: f64| -(1.0 - p / 100.0).max(1e-7).log10();
            let x_max = series
                .iter()
                .flat_map(|s| s.values.iter().map(|&(p, _)| tail(p)))
                .fold(1.0f64, f64::max);
            let y_max = series
                .iter()
                .flat_map(|s| s.values.iter().map(|&(_, ns)| ns))
                .fold(10.0f64, f64::max)
                * 2.0;
            let mut builder = ChartBuilder::on(&root);
            builder.margin(16);
            if self.text {
                builder
                    .caption(title, ("sans-serif", 26))
                    .x_label_area_size(40)
                    .y_label_area_size(80);
            }
            let mut chart = builder.build_cartesian_2d(0f64..x_max, (10f64..y_max).log_scale())?;
            {
                let mut mesh = chart.configure_mesh();
                if self.text {
                    mesh.x_desc("percentile")
                        .y_desc("insert latency (log scale)")
                        .x_labels(x_max.ceil() as usize + 1)
                        .x_label_formatter(&|x| {
                            if (x - x.round()).abs() > 1e-9 {
                                return String::new();
                            }
                            let p = 100.0 * (1.0 - 10f64.powf(-x.round()));
                            format!("p{}", (p * 10_000.0).round() / 10_000.0)
                        })
                        .y_label_formatter(&|ns| duration_label(*ns))
                        .label_style(("sans-serif", 15))
                        .draw()?;
                } else {
                    mesh.x_labels(0).y_labels(0).draw()?;
                }
            }
            for (si, s) in series.iter().enumerate() {
                let c = color(si);
                let pts: Vec<(f64, f64)> = s
                    .values
                    .iter()
                    .map(|&(p, ns)| (tail(p), ns.max(10.0)))
                    .collect();
                let drawn = chart.draw_series(LineSeries::new(pts, c.stroke_width(3)))?;
                if self.text {
                    drawn.label(s.name.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                    });
                }
            }
            if self.text {
                draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            }
            root.present()?;
        }
        Ok(path)
    }

    /// Lines over a log-scaled x axis, one point per x value and series: hit ratio (%)
    /// against cache size. A non-finite value leaves a gap in its series.
    pub fn log_x_lines(
        &self,
        file: &str,
        title: &str,
        (x_desc, y_desc): (&str, &str),
        xs: &[f64],
        series: &[Series<f64>],
    ) -> Result<PathBuf, DynError> {
        let path = self.dir.join(file);
        {
            let root = BitMapBackend::new(&path, SIZE).into_drawing_area();
            root.fill(&WHITE)?;
            let x_min = xs.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
            let x_max = xs.iter().copied().fold(1.0f64, f64::max).max(x_min * 1.5);
            let y_max = series
                .iter()
                .flat_map(|s| s.values.iter().copied())
                .filter(|v| v.is_finite())
                .fold(1.0f64, f64::max)
                * 1.08;
            let mut builder = ChartBuilder::on(&root);
            builder.margin(16);
            if self.text {
                builder
                    .caption(title, ("sans-serif", 26))
                    .x_label_area_size(44)
                    .y_label_area_size(70);
            }
            let mut chart = builder.build_cartesian_2d(
                // Ticks at the measured sizes, not at the log scale's round numbers.
                (x_min / 1.15..x_max * 1.15)
                    .log_scale()
                    .with_key_points(xs.to_vec()),
                0f64..y_max,
            )?;
            {
                let mut mesh = chart.configure_mesh();
                if self.text {
                    mesh.x_desc(x_desc)
                        .y_desc(y_desc)
                        .x_label_formatter(&|x| crate::report::count_label(x.round() as u64))
                        .y_label_formatter(&|v| format!("{v:.0}"))
                        .label_style(("sans-serif", 15))
                        .draw()?;
                } else {
                    mesh.x_labels(0).y_labels(5).draw()?;
                }
            }
            for (si, s) in series.iter().enumerate() {
                let c = color(si);
                let pts: Vec<(f64, f64)> = xs
                    .iter()
                    .zip(&s.values)
                    .filter(|(_, v)| v.is_finite())
                    .map(|(&x, &v)| (x, v))
                    .collect();
                let drawn = chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))?;
                if self.text {
                    drawn.label(s.name.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                    });
                }
                chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))?;
            }
            if self.text {
                draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            }
            root.present()?;
        }
        Ok(path)
    }
}

/// The legend box every chart draws, at `position`.
fn draw_legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DynError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

//! The PNG plots of `rusa test nlu`: the intent confusion matrix and the histogram of
//! prediction confidences, drawn with `plotters` and the DejaVu Sans font shipped in
//! `assets/` (so no system font is needed).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_err() {
            tracing::debug!("the plot font could not be registered");
        }
    });
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// A heat map of gold (rows) against predicted (columns) intents, each cell with its count,
/// shaded by the share of its row (blue on the diagonal, red off it).
pub fn confusion_matrix(path: &Path, labels: &[String], matrix: &[Vec<usize>]) -> PlotResult {
    register_font();
    let n = labels.len() as i32;
    let cell = 30i32;
    let label_px = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(4)
        .min(48) as i32
        * 7
        + 16;
    let (left, top) = (label_px, 44);
    let width = (left + n * cell + 20).max(460);
    let height = top + n * cell + label_px + 10;
    let root = BitMapBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = (FONT, 15).into_font();
    root.draw(&Text::new(
        "Intent confusion matrix (rows: true, columns: predicted)",
        (10, 12),
        title,
    ))?;
    let right_middle = (FONT, 12)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    let rotated = (FONT, 12)
        .into_font()
        .transform(FontTransform::Rotate90)
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, label) in labels.iter().enumerate() {
        let i = i as i32;
        let short: String = label.chars().take(48).collect();
        root.draw(&Text::new(
            short.clone(),
            (left - 6, top + i * cell + cell / 2),
            right_middle.clone(),
        ))?;
        root.draw(&Text::new(
            short,
            (left + i * cell + cell / 2, top + n * cell + 6),
            rotated.clone(),
        ))?;
    }
    for (row, counts) in matrix.iter().enumerate() {
        let total: usize = counts.iter().sum::<usize>().max(1);
        for (col, &count) in counts.iter().enumerate() {
            let share = count as f64 / total as f64;
            let shade = (255.0 * (1.0 - share)) as u8;
            let color = if row == col {
                RGBColor(shade, shade, 255)
            } else {
                RGBColor(255, shade, shade)
            };
            let (x, y) = (left + col as i32 * cell, top + row as i32 * cell);
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                color.filled(),
            ))?;
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                RGBColor(220, 220, 220).stroke_width(1),
            ))?;
            if count > 0 {
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let centered = (FONT, 11)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                root.draw(&Text::new(
                    count.to_string(),
                    (x + cell / 2, y + cell / 2),
                    centered,
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}

/// Two histograms of prediction confidence: right predictions and wrong ones.
pub fn confidence_histogram(path: &Path, confidences: &[(f64, bool)]) -> PlotResult {
    register_font();
    const BINS: usize = 10;
    let mut right = [0usize; BINS];
    let mut wrong = [0usize; BINS];
    for &(c, ok) in confidences {
        let bin = ((c.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        if ok {
            right[bin] += 1;
        } else {
            wrong[bin] += 1;
        }
    }
    let top = right
        .iter()
        .chain(&wrong)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let root = BitMapBackend::new(path, (640, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Intent prediction confidence", (FONT, 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..1.0f64, 0..top + top / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("confidence")
        .y_desc("messages")
        .label_style((FONT, 12))
        .draw()?;
    let width = 1.0 / BINS as f64;
    for (counts, color, offset, label) in [
        (&right, BLUE, 0.0, "correct"),
        (&wrong, RED, width / 2.0, "wrong"),
    ] {
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(i, &c)| {
                        let x = i as f64 * width + offset;
                        Rectangle::new([(x, 0), (x + width / 2.0, c)], color.mix(0.7).filled())
                    }),
            )?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .label_font((FONT, 12))
        .draw()?;
    root.present()?;
    Ok(())
}

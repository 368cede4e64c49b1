//! The PNG plots of `rusa test`: the confusion matrices of intents and of actions and the
//! histogram of intent prediction confidences, drawn with `plotters` and the DejaVu Sans font shipped in
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

/// A heat map of gold (rows) against predicted (columns) labels, each cell with its count,
/// shaded by the share of its row (blue on the diagonal, red off it), under `title`.
pub fn confusion_matrix(
    path: &Path,
    title: &str,
    labels: &[String],
    matrix: &[Vec<usize>],
) -> PlotResult {
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
    root.draw(&Text::new(
        format!("{title} (rows: true, columns: predicted)"),
        (10, 12),
        (FONT, 15).into_font(),
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

/// Bins of the confidence histogram: 0.05 wide, as Rasa's.
const HISTOGRAM_BINS: usize = 20;

/// Two histograms of prediction confidence side by side, as Rasa draws them: correct
/// predictions on the left and wrong ones on the right, confidence upwards in bins of 0.05
/// and each panel with its own count scale (a few wrong predictions stay visible beside
/// many right ones).
pub fn confidence_histogram(path: &Path, confidences: &[(f64, bool)]) -> PlotResult {
    register_font();
    let root = BitMapBackend::new(path, (720, 480)).into_drawing_area();
    draw_confidence_histogram(&root, confidences)?;
    root.present()?;
    Ok(())
}

/// The bin of a confidence: `[k * 0.05, (k + 1) * 0.05)`, with 1.0 in the last.
fn confidence_bin(confidence: f64) -> usize {
    ((confidence.clamp(0.0, 1.0) * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1)
}

fn draw_confidence_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    confidences: &[(f64, bool)],
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    let mut right = [0usize; HISTOGRAM_BINS];
    let mut wrong = [0usize; HISTOGRAM_BINS];
    for &(c, ok) in confidences {
        let bin = confidence_bin(c);
        if ok {
            right[bin] += 1;
        } else {
            wrong[bin] += 1;
        }
    }
    root.fill(&WHITE)?;
    let titled = root.titled(
        "Intent prediction confidence distribution",
        (FONT, 16).into_font(),
    )?;
    let panels = titled.split_evenly((1, 2));
    let width = 1.0 / HISTOGRAM_BINS as f64;
    for (panel, counts, color, caption) in [
        (&panels[0], &right, BLUE, "correct"),
        (&panels[1], &wrong, RED, "wrong"),
    ] {
        let total: usize = counts.iter().sum();
        let top = counts.iter().copied().max().unwrap_or(0).max(1);
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{caption} ({total})"), (FONT, 14))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(0..top + top / 10 + 1, 0.0..1.0f64)?;
        chart
            .configure_mesh()
            .x_desc("number of messages")
            .y_desc("confidence")
            .y_labels(11)
            .label_style((FONT, 12))
            .draw()?;
        chart.draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, &c)| {
                    let y = i as f64 * width;
                    Rectangle::new([(0, y), (c, y + width)], color.mix(0.75).filled())
                }),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the histogram into pixels and returns them (RGB, 720 × 480).
    fn render(confidences: &[(f64, bool)]) -> Vec<u8> {
        register_font();
        let mut pixels = vec![0u8; 720 * 480 * 3];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (720, 480)).into_drawing_area();
            draw_confidence_histogram(&root, confidences).unwrap();
            root.present().unwrap();
        }
        pixels
    }

    /// Rows (from the top) of the pixels of one colour family in the left or right half.
    fn rows_with(pixels: &[u8], right_half: bool, is: fn(u8, u8, u8) -> bool) -> Vec<usize> {
        let mut rows = Vec::new();
        for y in 0..480 {
            let xs = if right_half { 360..720 } else { 0..360 };
            if xs.into_iter().any(|x| {
                let i = (y * 720 + x) * 3;
                is(pixels[i], pixels[i + 1], pixels[i + 2])
            }) {
                rows.push(y);
            }
        }
        rows
    }

    fn blueish(r: u8, g: u8, b: u8) -> bool {
        b > 200 && r < 150 && g < 150
    }

    fn reddish(r: u8, g: u8, b: u8) -> bool {
        r > 200 && g < 150 && b < 150
    }

    #[test]
    fn confidences_fall_in_bins_of_a_twentieth() {
        assert_eq!(confidence_bin(0.0), 0);
        assert_eq!(confidence_bin(0.93), 18);
        assert_eq!(confidence_bin(0.97), 19);
        assert_eq!(confidence_bin(1.0), 19);
    }

    #[test]
    fn a_few_wrong_predictions_are_as_visible_as_many_right_ones() {
        let mut confidences = vec![(0.99, true); 200];
        confidences.push((0.97, false));
        let pixels = render(&confidences);
        let right = rows_with(&pixels, false, blueish);
        let wrong = rows_with(&pixels, true, reddish);
        // Each bar is a bin tall and, in its own panel, most of the panel wide.
        assert!(right.len() > 10, "{right:?}");
        assert!(
            wrong.len() > 10,
            "one wrong prediction is drawn a bin tall: {wrong:?}"
        );
        // Both sit in the topmost bin (0.95-1.0), at the same height.
        assert_eq!(right.first(), wrong.first());
        let red_pixels = (360..720)
            .flat_map(|x| (0..480).map(move |y| (x, y)))
            .filter(|&(x, y)| {
                let i = (y * 720 + x) * 3;
                reddish(pixels[i], pixels[i + 1], pixels[i + 2])
            })
            .count();
        assert!(red_pixels > 2_000, "{red_pixels}");
    }
}

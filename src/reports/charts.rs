//! Small charts as inline SVG, drawn by hand so they need no script, obey
//! a strict Content-Security-Policy (colours come from CSS classes, never
//! inline styles) and print: stacked bars of the coverage states per tactic
//! and a line of coverage over time. Each chart says what it shows in its
//! accessible name and carries its numbers as text, so no value depends on
//! colour.

use std::fmt::Write;

use crate::domain::coverage::{CoverageState, StateCounts};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The order the bars stack in: settled states first, open gaps last.
const STACK: [CoverageState; 7] = [
    CoverageState::Covered,
    CoverageState::AcceptedRisk,
    CoverageState::PartiallyCovered,
    CoverageState::Gap,
    CoverageState::GapNoKnownMitigation,
    CoverageState::NotApplicable,
    CoverageState::NotAssessed,
];

/// One horizontal bar per tactic, its techniques stacked by state, with the
/// count written in every segment wide enough and in each segment's title.
pub fn tactic_bars(rows: &[(String, StateCounts)]) -> String {
    const LABEL: f64 = 190.0;
    const BAR: f64 = 420.0;
    const ROW: f64 = 22.0;
    let widest = rows.iter().map(|(_, c)| c.total()).max().unwrap_or(0).max(1) as f64;
    let height = ROW * rows.len() as f64 + 4.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart tactic-bars" viewBox="0 0 {w} {height}" width="100%" role="img" aria-label="Techniques of each tactic by coverage state; the table after the chart gives every number">"#,
        w = LABEL + BAR + 40.0
    );
    for (row, (name, counts)) in rows.iter().enumerate() {
        let y = row as f64 * ROW + 2.0;
        let _ = write!(
            svg,
            r#"<text class="chart-label" x="{x}" y="{ty}" text-anchor="end">{name}</text>"#,
            x = LABEL - 6.0,
            ty = y + 14.0,
            name = escape(name)
        );
        let mut x = LABEL;
        for state in STACK {
            let n = counts.get(state);
            if n == 0 {
                continue;
            }
            let width = BAR * n as f64 / widest;
            let _ = write!(
                svg,
                r#"<g><title>{name}: {n} {label}</title><rect class="seg s-{class}" x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{h}"/>"#,
                name = escape(name),
                label = state.label().to_lowercase(),
                class = state.as_str(),
                h = ROW - 6.0
            );
            if width >= 16.0 {
                let _ = write!(
                    svg,
                    r#"<text class="seg-count s-{class}" x="{cx:.1}" y="{ty}" text-anchor="middle">{n}</text>"#,
                    class = state.as_str(),
                    cx = x + width / 2.0,
                    ty = y + 12.5
                );
            }
            svg.push_str("</g>");
            x += width;
        }
        let _ = write!(
            svg,
            r#"<text class="chart-total" x="{tx:.1}" y="{ty}">{total}</text>"#,
            tx = x + 4.0,
            ty = y + 14.0,
            total = counts.total()
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The legend of [`tactic_bars`], in stacking order: a swatch, the symbol
/// and the name of every state.
pub fn legend() -> Vec<CoverageState> {
    STACK.to_vec()
}

/// A line of coverage percentages over time (a missing value breaks the
/// line), scaled 0–100 %, with its first and last values in its name.
pub fn coverage_line(values: &[Option<f64>], what: &str) -> String {
    const W: f64 = 100.0;
    const H: f64 = 24.0;
    let known: Vec<(usize, f64)> = values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    let said = match (known.first(), known.last()) {
        (Some((_, first)), Some((_, last))) => {
            format!("{what}: from {first:.1}% to {last:.1}% over {} points", values.len())
        }
        _ => format!("{what}: no coverage yet (nothing that applies has been decided)"),
    };
    let step = if values.len() > 1 { W / (values.len() - 1) as f64 } else { W };
    let mut svg = format!(
        r#"<svg class="chart spark" viewBox="0 0 {W} {H}" preserveAspectRatio="none" role="img" aria-label="{}">"#,
        escape(&said)
    );
    let _ = write!(svg, r#"<line class="spark-base" x1="0" y1="{H}" x2="{W}" y2="{H}"/>"#);
    let mut segment: Vec<String> = Vec::new();
    let flush = |segment: &mut Vec<String>, svg: &mut String| {
        if segment.len() == 1 {
            let point = segment[0].replace(',', r#"" cy=""#);
            let _ = write!(svg, r#"<circle class="spark-dot" cx="{point}" r="1.2"/>"#);
        } else if segment.len() > 1 {
            let _ = write!(svg, r#"<polyline class="spark-line" points="{}"/>"#, segment.join(" "));
        }
        segment.clear();
    };
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => segment.push(format!("{:.1},{:.1}", i as f64 * step, H - H * v.clamp(0.0, 100.0) / 100.0)),
            None => flush(&mut segment, &mut svg),
        }
    }
    flush(&mut segment, &mut svg);
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_carry_their_numbers_and_escape_names() {
        let counts = StateCounts { covered: 3, gap: 2, not_assessed: 10, ..StateCounts::default() };
        let svg = tactic_bars(&[("Recon & <Discovery>".into(), counts)]);
        assert!(svg.contains("Recon &amp; &lt;Discovery&gt;"));
        assert!(svg.contains("<title>Recon &amp; &lt;Discovery&gt;: 3 covered</title>"));
        assert!(svg.contains(r#"class="seg s-gap""#) && svg.contains(">15</text>"), "the total is written");
        assert!(!svg.contains("style="), "colours come from CSS classes");
    }

    #[test]
    fn a_line_breaks_where_there_is_no_value_and_names_its_ends() {
        let svg = coverage_line(&[None, Some(10.0), Some(40.0), None, Some(55.5)], "coverage");
        assert!(svg.contains(r#"aria-label="coverage: from 10.0% to 55.5% over 5 points""#));
        assert!(svg.contains(r#"<polyline class="spark-line" points="25.0,21.6 50.0,14.4"/>"#), "{svg}");
        assert!(svg.contains(r#"<circle class="spark-dot" cx="100.0" cy="10.7" r="1.2"/>"#), "{svg}");
    }
}

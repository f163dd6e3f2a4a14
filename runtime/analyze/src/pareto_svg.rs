//! The precision search's plot: accuracy against modeled cycles, every point evaluated, the
//! Pareto front joined, the chosen point ringed, as a self-contained SVG.

use crate::explore::Exploration;
use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The plot of `e`, titled with `title`.
pub fn svg(e: &Exploration, title: &str) -> String {
    let xs: Vec<f64> = e.points.iter().map(|p| p.cycles as f64).collect();
    let (x0, x1) = xs
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 * 0.9, x0 * 1.1 + 1.0)
    };
    let y0 = e
        .points
        .iter()
        .map(|p| p.accuracy)
        .fold(e.float_accuracy, f64::min)
        .max(0.0);
    let (y0, y1) = (
        (y0 - 0.02).max(0.0),
        1.0f64.min(e.float_accuracy.max(y0) + 0.02),
    );
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |y: f64| TOP + (y1 - y) / (y1 - y0).max(1e-9) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="14">{}</text>"#,
        esc(title)
    );
    // axes and ticks
    let (bx, by) = (H - BOTTOM, W - RIGHT);
    let _ = writeln!(
        s,
        r#"<path d="M{LEFT} {TOP} V{bx} H{by}" stroke="black" fill="none"/>"#
    );
    for k in 0..=4 {
        let x = x0 + (x1 - x0) * f64::from(k) / 4.0;
        let y = y0 + (y1 - y0) * f64::from(k) / 4.0;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{:.0}</text>"#,
            px(x),
            bx + 16.0,
            x
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{:.1}%</text>"#,
            LEFT - 6.0,
            py(y) + 4.0,
            100.0 * y
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">modeled cycles per inference</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">top-1 {}</text>"#,
        (TOP + bx) / 2.0,
        (TOP + bx) / 2.0,
        if e.labeled {
            "accuracy"
        } else {
            "agreement with the float model"
        }
    );
    // the accuracy floor
    let floor = e.float_accuracy - e.max_drop;
    if floor >= y0 {
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" x2="{by}" y1="{0:.1}" y2="{0:.1}" stroke="gray" stroke-dasharray="4 3"/><text x="{1:.1}" y="{2:.1}" text-anchor="end" fill="gray">float {3:.1}% - max drop</text>"#,
            py(floor),
            by - 4.0,
            py(floor) - 4.0,
            100.0 * e.float_accuracy
        );
    }
    // the front, by cycles
    let mut front: Vec<&crate::explore::Point> = e.points.iter().filter(|p| p.pareto).collect();
    front.sort_by_key(|p| p.cycles);
    let path: Vec<String> = front
        .iter()
        .map(|p| format!("{:.1},{:.1}", px(p.cycles as f64), py(p.accuracy)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>"##,
        path.join(" ")
    );
    for (i, p) in e.points.iter().enumerate() {
        let (fill, r) = if p.pareto {
            ("#1f6feb", 4.5)
        } else {
            ("#9aa0a6", 3.5)
        };
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}"><title>{}: {:.2}%, {} cycles, {} DSP</title></circle>"#,
            px(p.cycles as f64),
            py(p.accuracy),
            esc(&p.rules),
            100.0 * p.accuracy,
            p.cycles,
            p.dsp
        );
        if i == e.chosen {
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="9" fill="none" stroke="#d93025" stroke-width="2"/>"##,
                px(p.cycles as f64),
                py(p.accuracy)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

//! `report.html`: the report as tables and inline SVG charts, one self-contained file that
//! needs no network.

use crate::report::{Layer, Report};
use std::fmt::Write;

/// The report as a self-contained HTML page.
pub fn html(r: &Report) -> String {
    let mut s = String::new();
    let title = format!("qweave analyze: {}", esc(&r.model));
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>{CSS}</style></head><body>\n<h1>{title}</h1>\n<p>{} items; accuracy basis: {}.</p>\n",
        r.items,
        match r.accuracy_basis.as_str() {
            "labels" => "top-1 against the labels",
            "float_agreement" => "top-1 agreement with the float reference",
            _ => "not measured",
        }
    );
    s.push_str("<h2>Semantics</h2>\n<table><tr><th>semantics</th><th>top-1</th><th>ops left at the onnx level</th><th>what it is</th></tr>\n");
    for m in &r.semantics {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
            esc(&m.name),
            m.top1.map_or("—".into(), |t| format!("{:.2} %", t * 100.0)),
            m.onnx_ops,
            esc(&m.description)
        );
    }
    s.push_str("</table>\n");
    for n in &r.notes {
        let _ = writeln!(s, "<p class=note>{}</p>", esc(n));
    }
    s.push_str("<h2>SQNR against float per tensor (dB)</h2>\n");
    s.push_str(&bars(
        &r.layers,
        &[("source", |l| l.source.sqnr_db), ("hw", |l| l.hw.sqnr_db)],
    ));
    s.push_str("<h2>Stored integers that differ between source and hardware</h2>\n");
    s.push_str(&bars(
        &r.layers,
        &[
            ("end to end", |l| Some(l.differ as f64)),
            ("this layer alone", |l| Some(l.differ_local as f64)),
        ],
    ));
    s.push_str("<h2>Per tensor</h2>\n<table><tr><th>tensor</th><th>node</th><th>op</th><th>w bits</th><th>a bits</th><th>acc bits</th><th>SQNR source (dB)</th><th>SQNR hw (dB)</th><th>max |err| source</th><th>max |err| hw</th><th>overflow source</th><th>overflow hw</th><th>acc overflow hw</th><th>differ</th><th>differ (layer)</th><th>elements</th></tr>\n");
    for l in &r.layers {
        let bits = |b: Option<u8>| b.map_or("—".into(), |b| b.to_string());
        let db = |d: Option<f64>| d.map_or("—".into(), |d| format!("{d:.1}"));
        let err = |e: Option<f64>| e.map_or("—".into(), |e| format!("{e:.4}"));
        let rate = |x: f64| format!("{:.3} %", x * 100.0);
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n{}>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&l.tensor),
            esc(&l.node),
            esc(&l.op),
            bits(l.weight_bits),
            bits(l.act_bits),
            bits(l.acc_bits),
            db(l.source.sqnr_db),
            db(l.hw.sqnr_db),
            err(l.source.max_abs_error),
            err(l.hw.max_abs_error),
            rate(l.source.overflow_rate),
            rate(l.hw.overflow_rate),
            if l.hw.acc_overflow_rate > 0.0 {
                " style=\"color:#b00\""
            } else {
                ""
            },
            rate(l.hw.acc_overflow_rate),
            l.differ,
            l.differ_local,
            l.elements
        );
    }
    s.push_str("</table>\n<p class=note>The JSON form of this report (report.json) and its schema: docs/analyze.md in the qweave repository.</p>\n</body></html>\n");
    s
}

type Metric = fn(&Layer) -> Option<f64>;

/// A horizontal grouped bar chart, one group per layer, one bar per metric.
fn bars(layers: &[Layer], metrics: &[(&str, Metric)]) -> String {
    const COLORS: [&str; 2] = ["#4477aa", "#ee6677"];
    let (label_w, bar_w, row_h) = (220.0, 420.0, 8.0 * metrics.len() as f64 + 6.0);
    let max = layers
        .iter()
        .flat_map(|l| metrics.iter().filter_map(move |(_, m)| m(l)))
        .fold(0f64, f64::max)
        .max(1e-9);
    let height = 30.0 + row_h * layers.len() as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-size=\"11\" font-family=\"sans-serif\">\n",
        label_w + bar_w + 80.0
    );
    for (k, (name, _)) in metrics.iter().enumerate() {
        let x = label_w + k as f64 * 140.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"13\">{}</text>",
            COLORS[k % 2],
            x + 14.0,
            esc(name)
        );
    }
    for (i, l) in layers.iter().enumerate() {
        let y = 24.0 + i as f64 * row_h;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y + row_h / 2.0 + 3.0,
            esc(&l.tensor)
        );
        for (k, (_, m)) in metrics.iter().enumerate() {
            let by = y + 2.0 + 8.0 * k as f64;
            match m(l) {
                Some(v) => {
                    let w = (v.max(0.0) / max * bar_w).max(0.5);
                    let _ = writeln!(
                        s,
                        "<rect x=\"{label_w}\" y=\"{by}\" width=\"{w:.1}\" height=\"7\" fill=\"{}\"><title>{}: {v:.2}</title></rect><text x=\"{:.1}\" y=\"{}\" font-size=\"8\">{}</text>",
                        COLORS[k % 2],
                        esc(&l.tensor),
                        label_w + w + 3.0,
                        by + 6.5,
                        if v.fract() == 0.0 {
                            format!("{v}")
                        } else {
                            format!("{v:.1}")
                        }
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<text x=\"{}\" y=\"{}\" font-size=\"8\">—</text>",
                        label_w + 2.0,
                        by + 6.5
                    );
                }
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px}th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}p.note{color:#555;font-size:13px}";

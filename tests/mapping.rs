//! The e-graph mapper on `tests/mapping/*.qir` (each names its target on its first line,
//! `// target: NAME`): the q-level file is the IR before, the snapshot holds what the search
//! did, each layer's extracted term beside the default, and the IR after — the hw level, every
//! array op carrying its binding (`map = [...]`). The hw-level IR must round-trip and compile
//! to a program that simulates bit-exactly against the interpreter, no slower than the default.

mod common;

use qweave_backends::{execute, mapping, program};
use qweave_hw::Target;
use qweave_ir::{Data, Tensor, parse, print, verify};
use std::fmt::Write;

/// A deterministic input within the input's storage range.
fn input(g: &qweave_ir::Graph) -> Tensor {
    let ty = g.ty(g.inputs[0]).clone();
    let s = ty.elem.storage().expect("an integer input");
    let (lo, hi) = (s.min(), s.max());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let data = (0..ty.numel())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            lo + (state % (hi - lo + 1) as u64) as i64
        })
        .collect();
    Tensor {
        ty,
        data: Data::Int(data),
    }
}

#[test]
fn mapping_snapshots() {
    insta::glob!("mapping/*.qir", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let target = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// target:"))
            .map(|t| Target::parse(t.trim()).unwrap())
            .unwrap_or_else(|| {
                panic!(
                    "{}: the first line must be `// target: NAME`",
                    path.display()
                )
            });
        let mut g = common::parse_file(path).unwrap().graph;
        verify(&g).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let hw = target.preset();
        let m = mapping::map(&g, &hw, target, &Default::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        mapping::annotate(&mut g, &m.bindings).unwrap();
        verify(&g).unwrap_or_else(|e| panic!("{}: the hw level: {e:?}", path.display()));
        let printed = print(&g);
        let reparsed = parse(&printed, None).unwrap();
        assert_eq!(print(&reparsed.graph), printed, "the hw level round-trips");
        // the hw level compiles to the mapped program, exact and no slower than the default
        let x = [input(&g)];
        let c = program::compile(&g, &m.hw).unwrap();
        let s = execute::simulate(&c, &g, &m.hw, &x).unwrap();
        execute::check(&c, &g, &x, &s.run.dram).unwrap();
        let d = program::compile(&common::parse_file(path).unwrap().graph, &hw).unwrap();
        let base = qweave_sim::time(&hw, &d.program).unwrap().cycles;
        assert!(
            s.run.cycles <= base,
            "{} cycles mapped, {base} by default",
            s.run.cycles
        );
        let mut out = String::new();
        let x = &m.search;
        let _ = writeln!(
            out,
            "// {}: {} e-nodes, {} classes, {} iterations, {}; {} fitting tiles, {} timed",
            target.name(),
            x.nodes,
            x.classes,
            x.iterations,
            x.stop,
            x.candidates,
            x.timed
        );
        let built: Vec<String> =
            m.hw.packings
                .iter()
                .map(|p| format!("{} {}", p.mode, p.pe.describe()))
                .collect();
        let _ = writeln!(out, "// built: [{}]", built.join(", "));
        let tried: Vec<String> = x
            .shapes
            .iter()
            .map(|(r, c, cy)| format!("{r}x{c} {}", cy.map_or("-".into(), |v| v.to_string())))
            .collect();
        let _ = writeln!(
            out,
            "// array: {}x{} of [{}]",
            m.hw.rows,
            m.hw.cols,
            tried.join(", ")
        );
        let _ = writeln!(out, "// modeled: {} cycles, default {base}", s.run.cycles);
        for l in &m.layers {
            let _ = writeln!(
                out,
                "// layer {}: {} cycles alone (default {}): {}",
                l.index, l.chosen_cycles, l.default_cycles, l.term
            );
        }
        out.push_str(&printed);
        insta::assert_snapshot!(out);
    });
}

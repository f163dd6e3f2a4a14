//! File tests: each `tests/filetests/<pass>/*.qir` names its pipeline on its first line
//! (`// pipeline: a,b`); the test runs that pipeline with verification after every pass and
//! snapshots the printed result (or the error), and checks the result round-trips.

mod common;

use qweave_ir::{parse, print, verify};
use qweave_passes::{Pipeline, PipelineOptions};

#[test]
fn filetests() {
    insta::glob!("filetests/**/*.qir", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let spec = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// pipeline:"))
            .unwrap_or_else(|| {
                panic!(
                    "{}: the first line must be `// pipeline: PASSES`",
                    path.display()
                )
            })
            .trim();
        let mut graph = common::parse_file(path)
            .unwrap_or_else(|e| panic!("{}:{e}", path.display()))
            .graph;
        verify(&graph).unwrap_or_else(|e| panic!("{}: invalid input: {e:?}", path.display()));
        let pipeline = Pipeline::parse(spec).unwrap();
        let output =
            match pipeline.run(&mut graph, PipelineOptions { verify_each: true }, |_, _| {}) {
                Ok(_) => {
                    let printed = print(&graph);
                    let reparsed = parse(&printed, None);
                    // Outputs with blobs need their sidecar to re-parse; the rest must round-trip.
                    if let Ok(p) = reparsed {
                        assert_eq!(
                            print(&p.graph),
                            printed,
                            "{}: output does not round-trip",
                            path.display()
                        );
                    }
                    printed
                }
                Err(e) => format!("error: {e}\n"),
            };
        insta::assert_snapshot!(output);
    });
}

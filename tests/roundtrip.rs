//! Every `.qir` under `tests/` and `examples/` that is valid round-trips: printing, parsing
//! and printing again gives the same text, and the printed text plus the collected sidecar is
//! a complete program equal to the original.

mod common;

use qweave_ir::{parse, print, print_with_sidecar, verify};

#[test]
fn every_valid_file_round_trips() {
    let mut checked = 0;
    for path in common::qir_files() {
        let Ok(parsed) = common::parse_file(&path) else {
            continue;
        };
        let once = print(&parsed.graph);
        let again = parse(&once, common::sidecar_of(&path).as_ref()).unwrap_or_else(|e| {
            panic!(
                "{}: printed form does not parse: {e}\n{once}",
                path.display()
            )
        });
        assert_eq!(print(&again.graph), once, "{}", path.display());

        let (text, sidecar) = print_with_sidecar(&parsed.graph);
        assert_eq!(text, once);
        let complete = parse(&text, Some(&sidecar)).unwrap();
        for (a, b) in parsed.graph.scheduled().zip(complete.graph.scheduled()) {
            assert_eq!(
                parsed.graph.ops[a].kind,
                complete.graph.ops[b].kind,
                "{}",
                path.display()
            );
        }
        if verify(&parsed.graph).is_ok() {
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} valid .qir files found");
}

//! Malformed `.qir` inputs through the real CLI: each file under `tests/errors/` must give a
//! located, one-line-per-problem error and exit code 1 — never a panic. The exit code and
//! stderr are snapshotted.

mod common;

#[test]
fn malformed_inputs_fail_cleanly() {
    insta::glob!("errors/**/*.qir", |path| {
        let rel = common::relative(path);
        let run = common::qweave(&["ir", &rel]);
        assert_eq!(run.code, 1, "{rel}: expected exit code 1\n{}", run.stderr);
        assert!(
            run.stdout.is_empty(),
            "{rel}: nothing may be printed on failure"
        );
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("internal error"),
            "{}",
            run.stderr
        );
        for line in run.stderr.lines() {
            assert!(
                line.starts_with(&format!("error: {rel}")),
                "{rel}: unlocated error line: {line}"
            );
        }
        insta::assert_snapshot!(run.stderr);
    });
}

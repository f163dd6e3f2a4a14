//! The tool runner on `sh` scripts: logs, failures with their tail, lossy output, missing
//! programs, shell quoting and the spinner's latest line.

use super::*;

fn sh_step<'a>(dir: &'a Path, script: &str) -> Step<'a> {
    Step {
        name: "testing",
        program: "sh",
        args: vec!["-c".into(), script.into()],
        dir,
        log: dir.join("step.log"),
        quiet: true,
    }
}

#[test]
fn success_captures_both_streams_in_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let run = sh_step(tmp.path(), "echo out; echo err >&2")
        .run(&Tools::on_path())
        .unwrap();
    let log = std::fs::read_to_string(&run.log).unwrap();
    assert!(log.contains("out\n") && log.contains("err\n"), "{log}");
    assert_eq!(latest_line(&run.log), "err");
}

#[test]
fn failure_carries_step_command_status_log_and_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let script = "for i in $(seq 1 40); do echo \"line $i\"; done; echo 'it broke' >&2; exit 3";
    let err = sh_step(tmp.path(), script)
        .run(&Tools::on_path())
        .unwrap_err();
    let Error::StepFailed {
        step,
        command,
        status,
        log,
        tail,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(step, "testing");
    assert!(command.ends_with(&format!("/sh -c {}", shell_quote(script.as_ref()))));
    assert!(command.starts_with("cd "), "{command}");
    assert!(status.contains('3'), "{status}");
    assert_eq!(log, &tmp.path().join("step.log"));
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 30);
    assert_eq!(lines[0], "line 12");
    assert_eq!(lines[29], "it broke");
    let text = err.to_string();
    assert!(
        text.starts_with("testing failed (exit status: 3): cd "),
        "{text}"
    );
    assert!(text.contains("it broke"), "{text}");
}

#[test]
fn non_utf8_output_is_read_lossily() {
    let tmp = tempfile::tempdir().unwrap();
    let err = sh_step(tmp.path(), r"printf 'bad \377\376 bytes\n'; exit 1")
        .run(&Tools::on_path())
        .unwrap_err();
    let Error::StepFailed { tail, .. } = err else {
        panic!("{err}");
    };
    assert_eq!(tail, "bad \u{FFFD}\u{FFFD} bytes");
}

#[test]
fn missing_program_names_its_package_and_the_install_script() {
    let empty = tempfile::tempdir().unwrap();
    let tools = Tools::in_dirs([empty.path().to_path_buf()]);
    let err = tools.locate("iceunpack").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("iceunpack is not installed"), "{text}");
    assert!(text.contains("`fpga-icestorm`"), "{text}");
    assert!(text.contains("scripts/hw-tools.sh"), "{text}");
    assert!(text.contains(&empty.path().display().to_string()), "{text}");
    // a step never starts, and leaves no log behind
    let step = Step {
        log: empty.path().join("x.log"),
        ..sh_step(empty.path(), "true")
    };
    assert!(matches!(step.run(&tools), Err(Error::MissingTool { .. })));
    assert!(!step.log.exists());
    // a file that is not executable is not the program
    std::fs::write(empty.path().join("yosys"), "").unwrap();
    assert!(matches!(
        tools.locate("yosys"),
        Err(Error::MissingTool {
            package: Some("yosys"),
            ..
        })
    ));
}

#[test]
fn shell_quoting_round_trips_through_sh() {
    for word in ["plain-word_1.sv", "two words", "it's", "", "a;b$c`d`\"e\""] {
        let quoted = shell_quote(word.as_ref());
        let out = Command::new("sh")
            .args(["-c", &format!("printf %s {quoted}")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), word, "{quoted}");
    }
    assert_eq!(shell_quote("synth.json".as_ref()), "synth.json");
}

#[test]
fn latest_line_takes_the_last_redraw_and_skips_blanks() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("l.log");
    std::fs::write(&p, "first\n10%\r50%\r90%\n\n  \n").unwrap();
    assert_eq!(latest_line(&p), "90%");
    assert_eq!(latest_line(&tmp.path().join("none.log")), "");
    // a long log: only its end is read, from a line boundary
    let long: String = (0..20_000).map(|i| format!("row {i}\n")).collect();
    std::fs::write(&p, long).unwrap();
    assert_eq!(tail_lines(&p, 2), "row 19998\nrow 19999");
    assert_eq!(latest_line(&p), "row 19999");
}

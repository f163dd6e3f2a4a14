//! The iCE40 flow on real designs (`tests/fixtures/`) with the real tools: a full build read
//! back from its bitstream, a design refused for one SB_MAC16 too many before place and
//! route, a syntax error, a missing tool, a run without constraints, and bad input.

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn flow(source: &str, top: &str, out_dir: &Path) -> Ice40Flow {
    Ice40Flow {
        sources: vec![fixture(source)],
        top: top.into(),
        pcf: None,
        clock_mhz: 12.0,
        out_dir: out_dir.to_path_buf(),
        quiet: true,
    }
}

#[test]
fn blink_builds_a_bitstream_that_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("build");
    let pcf = std::fs::read_to_string(fixture("blink.pcf")).unwrap();
    let build = Ice40Flow {
        pcf: Some(pcf),
        ..flow("blink.sv", "blink", &out)
    }
    .run()
    .unwrap();

    let c = &build.cells;
    assert!(c.mac16 >= 1 && c.ram40_4k >= 1, "{c:?}");
    assert!(c.lut4 > 0 && c.dff >= 24 && c.carry > 0, "{c:?}");
    assert_eq!(
        c.dff,
        c.by_type
            .iter()
            .filter(|(t, _)| t.starts_with("SB_DFF"))
            .map(|(_, n)| n)
            .sum::<u64>()
    );

    let u = |r: &str| build.utilization[r];
    assert_eq!(u("ICESTORM_LC").available, 5280);
    assert!(u("ICESTORM_LC").used > 0);
    assert_eq!(
        (u("ICESTORM_DSP").used, u("ICESTORM_DSP").available),
        (c.mac16, 8)
    );
    assert_eq!(
        (u("ICESTORM_RAM").used, u("ICESTORM_RAM").available),
        (c.ram40_4k, 30)
    );
    assert_eq!(u("ICESTORM_SPRAM").available, 4);
    assert_eq!(u("SB_IO").used, 5, "clk, rst and three LEDs");

    let fmax = build.fmax_mhz.unwrap();
    assert!(fmax > 0.0 && fmax.is_finite());
    assert_eq!(build.clocks.len(), 1);
    let clock = build.clocks.values().next().unwrap();
    assert_eq!((clock.achieved_mhz, clock.target_mhz), (fmax, 12.0));
    assert_eq!(build.target_mhz, 12.0);
    assert_eq!(build.meets_target(), fmax >= 12.0);

    assert_eq!(
        build.bitstream,
        std::path::absolute(out.join("accel.bin")).unwrap()
    );
    assert!(std::fs::metadata(&build.bitstream).unwrap().len() > 1000);
    for p in [
        &build.asc,
        &build.netlist,
        &build.pnr_report,
        &out.join("accel.pcf"),
    ] {
        assert!(p.is_file(), "{}", p.display());
    }
    let logs = [
        &build.steps.synthesis,
        &build.steps.place_and_route,
        &build.steps.bitstream,
    ];
    for (step, name) in logs.iter().zip(["synth.log", "pnr.log", "pack.log"]) {
        assert_eq!(step.log.file_name().unwrap(), name);
        assert!(step.log.is_file() && step.duration.as_nanos() > 0);
    }
    let synth_log = std::fs::read_to_string(&build.steps.synthesis.log).unwrap();
    assert!(
        synth_log.contains("synth_ice40 -dsp -top blink"),
        "the log is yosys' own"
    );

    let back = tmp.path().join("back/readback.asc");
    let device = unpack_ice40(&Tools::on_path(), &build.bitstream, &back, true).unwrap();
    assert_eq!(device, "5k");
    assert!(
        std::fs::read_to_string(&back)
            .unwrap()
            .contains(".ram_data"),
        "the RAM is there"
    );
    // a file that is not a bitstream does not read back
    let junk = tmp.path().join("junk.bin");
    std::fs::write(&junk, [0u8; 64]).unwrap();
    assert!(unpack_ice40(&Tools::on_path(), &junk, &tmp.path().join("j.asc"), true).is_err());

    eprintln_measure(&build);
}

/// Prints the measured numbers of the blink build (seen with `--nocapture`).
#[allow(clippy::print_stderr, reason = "a measurement the test reports")]
fn eprintln_measure(build: &Ice40Build) {
    eprintln!(
        "blink: fmax {:.2} MHz, cells {:?}, LC {}/5280, steps {:.2} s + {:.2} s + {:.2} s",
        build.fmax_mhz.unwrap_or(0.0),
        build.cells.by_type,
        build.utilization["ICESTORM_LC"].used,
        build.steps.synthesis.duration.as_secs_f64(),
        build.steps.place_and_route.duration.as_secs_f64(),
        build.steps.bitstream.duration.as_secs_f64(),
    );
}

#[test]
fn nine_multipliers_do_not_fit_and_are_not_placed() {
    let tmp = tempfile::tempdir().unwrap();
    let err = flow("nine_mults.sv", "nine_mults", tmp.path())
        .run()
        .unwrap_err();
    let Error::DoesNotFit { part, over, log } = &err else {
        panic!("{err}");
    };
    assert_eq!(*part, "UP5K");
    assert_eq!(over.len(), 1, "{err}");
    assert_eq!(
        (over[0].resource.as_str(), over[0].needed, over[0].available),
        ("DSP blocks (ICESTORM_DSP)", 9, 8)
    );
    // as nextpnr packs it
    assert_eq!(log, &tmp.path().join("pack_check.log"));
    let text = err.to_string();
    assert!(
        text.contains("DSP blocks (ICESTORM_DSP): needs 9, the UP5K has 8 (1 over)"),
        "{text}"
    );
    assert!(!tmp.path().join("pnr.log").exists(), "place and route ran");
    assert!(!tmp.path().join("accel.asc").exists());
}

#[test]
fn a_syntax_error_fails_synthesis_with_yosys_message() {
    let tmp = tempfile::tempdir().unwrap();
    let err = flow("syntax_error.sv", "syntax_error", tmp.path())
        .run()
        .unwrap_err();
    let Error::StepFailed {
        step,
        command,
        tail,
        log,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(step, "synthesis");
    assert!(
        command.contains("/yosys -p 'read_verilog -sv "),
        "{command}"
    );
    assert!(
        command.contains("syntax_error.sv; synth_ice40 -dsp -top syntax_error"),
        "{command}"
    );
    assert!(
        tail.contains("syntax_error.sv:6: ERROR: syntax error"),
        "{tail}"
    );
    assert_eq!(log, &tmp.path().join("synth.log"));
    let text = err.to_string();
    assert!(
        text.starts_with("synthesis failed (exit status: 1)"),
        "{text}"
    );
    assert!(!tmp.path().join("pnr.log").exists());
}

#[test]
fn a_missing_tool_names_itself_and_the_install_script() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let err = flow("blink.sv", "blink", &tmp.path().join("out"))
        .run_with(&Tools::in_dirs([empty]))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::MissingTool {
                package: Some("yosys"),
                ..
            }
        ),
        "{text}"
    );
    assert!(text.starts_with("yosys is not installed"), "{text}");
    assert!(text.contains("scripts/hw-tools.sh"), "{text}");
    assert!(!tmp.path().join("out/synth.log").exists());
}

#[test]
fn without_constraints_the_io_is_placed_freely() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("count 4.sv");
    std::fs::write(
        &src,
        "module count4 (input logic clk, output logic [3:0] q);\n\
         always_ff @(posedge clk) q <= q + 4'd1;\nendmodule\n",
    )
    .unwrap();
    let build = Ice40Flow {
        sources: vec![src],
        clock_mhz: 48.5,
        ..flow("unused", "count4", &tmp.path().join("out"))
    }
    .run()
    .unwrap();
    assert_eq!(build.utilization["SB_IO"].used, 5);
    assert_eq!(build.target_mhz, 48.5);
    assert_eq!(build.clocks.values().next().unwrap().target_mhz, 48.5);
    assert!(build.meets_target(), "{:?}", build.fmax_mhz);
    assert!(!tmp.path().join("out/accel.pcf").exists());
}

#[test]
fn bad_input_is_refused_before_any_tool_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let base = flow("blink.sv", "blink", tmp.path());
    let no_tools = Tools::in_dirs([]);
    let refuse = |f: Ice40Flow| f.run_with(&no_tools).unwrap_err().to_string();
    assert!(
        refuse(Ice40Flow {
            clock_mhz: 0.0,
            ..base.clone()
        })
        .contains("positive number of MHz")
    );
    assert!(
        refuse(Ice40Flow {
            clock_mhz: f64::NAN,
            ..base.clone()
        })
        .contains("MHz")
    );
    assert!(
        refuse(Ice40Flow {
            sources: vec![],
            ..base.clone()
        })
        .contains("no source files")
    );
    assert!(
        refuse(Ice40Flow {
            top: "1top; exit".into(),
            ..base.clone()
        })
        .contains("identifier")
    );
    let missing = refuse(Ice40Flow {
        sources: vec![tmp.path().join("none.sv")],
        ..base.clone()
    });
    assert!(missing.contains("none.sv"), "{missing}");
    let quoted = tmp.path().join("a\"b.sv");
    std::fs::write(&quoted, "").unwrap();
    assert!(
        refuse(Ice40Flow {
            sources: vec![quoted],
            ..base.clone()
        })
        .contains("double quote")
    );
    // the checks came first: without tools, valid input fails only on the missing yosys
    assert!(matches!(
        base.run_with(&no_tools),
        Err(Error::MissingTool { .. })
    ));
}

#[test]
fn cells_sum_every_flip_flop_flavour() {
    let counts = [
        ("SB_DFF", 3),
        ("SB_DFFE", 2),
        ("SB_DFFSR", 4),
        ("SB_LUT4", 7),
        ("SB_IO", 1),
    ]
    .map(|(t, n)| (t.to_string(), n));
    let c = Ice40Cells::from_counts(counts.into_iter().collect());
    assert_eq!((c.dff, c.lut4, c.io, c.mac16), (9, 7, 1, 0));
    assert_eq!(c.get("SB_DFFE"), 2);
    assert_eq!(c.get("SB_MAC16"), 0);
}

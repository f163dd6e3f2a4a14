//! The serial post-processing unit's microcode ROM and register file as the bitstream holds
//! them: yosys maps `qw_ucode_rom` and `qw_ucode_regs` onto iCE40 block RAMs whose `INIT_*`
//! parameters carry the images, and their netlists, simulated with yosys' own iCE40 cell
//! models in Verilator, read back every assembled micro-op and every register's first value
//! (the RTL tests run the behavioral models, so this is what checks the images' layout).

use std::path::{Path, PathBuf};
use std::process::Command;

/// yosys' iCE40 cell models, beside the yosys binary's installation.
fn cells_sim() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v yosys"])
        .output()
        .expect("sh runs");
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let prefix = bin
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/usr"));
    let path = prefix.join("share/yosys/ice40/cells_sim.v");
    assert!(
        path.is_file(),
        "{} is missing (scripts/hw-tools.sh installs yosys)",
        path.display()
    );
    path
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// Synthesizes `top` of `sv` for the iCE40 and simulates its netlist with the testbench
/// `tb` (top module `tb`); returns the simulation's output.
fn gate_level(dir: &Path, sv: &Path, top: &str, tb: &str) -> String {
    let net = dir.join(format!("{top}_net.v"));
    run(
        Command::new("yosys").args([
            "-q",
            "-p",
            &format!(
                "read_verilog -sv {}; synth_ice40 -top {top}; write_verilog -noattr {}",
                sv.display(),
                net.display()
            ),
        ]),
        "yosys",
    );
    let tb_path = dir.join(format!("{top}_tb.sv"));
    std::fs::write(&tb_path, tb).unwrap();
    let obj = dir.join(format!("{top}_obj"));
    run(
        Command::new("verilator")
            .args(["--binary", "--timing", "-DNO_ICE40_DEFAULT_ASSIGNMENTS"])
            .args([
                "-Wno-fatal",
                "-Wno-lint",
                "-Wno-style",
                "--top-module",
                "tb",
            ])
            .arg("--Mdir")
            .arg(&obj)
            .arg(&tb_path)
            .arg(&net)
            .arg(cells_sim())
            .args(["-o", "sim"]),
        "verilator",
    );
    run(
        &mut Command::new(obj.join("sim")),
        "the gate-level simulation",
    )
}

#[test]
fn the_block_rams_hold_the_microcode_and_the_constants() {
    let dir = std::env::temp_dir().join(format!("qweave-ucode-gl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sv = dir.join("memories.sv");
    // as accel.sv has them for the iCE40: the register file on SB_RAM40_4K blocks
    let text = format!(
        "`define QW_ICE40_BLOCKS\n{}",
        qweave_backends::rtl::ucode::memories()
    );
    std::fs::write(&sv, text).unwrap();
    let p = qweave_hw::ucode::microcode();
    let rom: Vec<String> = (0..512)
        .map(|k| {
            format!(
                "{:012x}",
                p.rom.get(k).map_or(0, qweave_hw::ucode::Uop::encode)
            )
        })
        .collect();
    std::fs::write(dir.join("rom.hex"), rom.join("\n") + "\n").unwrap();
    let regs: Vec<String> = p.init.iter().map(|v| format!("{v:04x}")).collect();
    std::fs::write(dir.join("regs.hex"), regs.join("\n") + "\n").unwrap();
    // every word through the registered read, and the routine of each opcode
    let entries: Vec<String> = p
        .entries
        .iter()
        .enumerate()
        .map(|(k, e)| {
            format!(
                "opcode = 8'd{}; #1; if (entry !== 9'd{e}) begin bad++; \
                 $display(\"entry of %0d: %0d\", opcode, entry); end\n",
                k + 4
            )
        })
        .collect();
    let tb_rom = format!(
        "module tb;\n\
         logic clk = 0; logic [8:0] addr; logic [47:0] data; logic [7:0] opcode = 0; \
         logic [8:0] entry;\n\
         qw_ucode_rom dut(.clk(clk), .addr(addr), .data(data), .opcode(opcode), .entry(entry));\n\
         logic [47:0] image [0:511]; int bad = 0;\n\
         initial begin\n\
         $readmemh(\"{}\", image);\n\
         for (int a = 0; a < 512; a++) begin\n\
           addr = a[8:0]; #1 clk = 1; #1 clk = 0; #1;\n\
           if (data !== image[a]) begin bad++; $display(\"word %0d: %h, not %h\", a, data, \
         image[a]); end\n\
         end\n{}\
         $display(\"mismatches %0d\", bad); $finish;\n\
         end\nendmodule\n",
        dir.join("rom.hex").display(),
        entries.concat()
    );
    let out = gate_level(&dir, &sv, "qw_ucode_rom", &tb_rom);
    assert!(out.contains("mismatches 0"), "{out}");
    // every register's first value on both ports, then a write read back on both
    let tb_regs = format!(
        "module tb;\n\
         logic clk = 0, we = 0; logic [7:0] wa = 0, ra_a, ra_b; logic [15:0] wd = 0, rd_a, rd_b;\n\
         qw_ucode_regs dut(.clk(clk), .we(we), .wa(wa), .wd(wd), .ra_a(ra_a), .rd_a(rd_a), \
         .ra_b(ra_b), .rd_b(rd_b));\n\
         logic [15:0] image [0:255]; int bad = 0;\n\
         initial begin\n\
         $readmemh(\"{}\", image);\n\
         for (int a = 0; a < 256; a++) begin\n\
           ra_a = a[7:0]; ra_b = 8'(255 - a); #1 clk = 1; #1 clk = 0; #1;\n\
           if (rd_a !== image[a] || rd_b !== image[255 - a]) begin bad++; \
         $display(\"register %0d: %h, not %h\", a, rd_a, image[a]); end\n\
         end\n\
         we = 1; wa = 8'd200; wd = 16'hbeef; #1 clk = 1; #1 clk = 0; #1; we = 0;\n\
         ra_a = 8'd200; ra_b = 8'd200; #1 clk = 1; #1 clk = 0; #1;\n\
         if (rd_a !== 16'hbeef || rd_b !== 16'hbeef) begin bad++; $display(\"write lost\"); end\n\
         $display(\"mismatches %0d\", bad); $finish;\n\
         end\nendmodule\n",
        dir.join("regs.hex").display()
    );
    let out = gate_level(&dir, &sv, "qw_ucode_regs", &tb_regs);
    assert!(out.contains("mismatches 0"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

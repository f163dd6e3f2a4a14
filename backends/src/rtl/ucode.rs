//! The serial post-processing unit's memories as SystemVerilog, from the assembled microcode
//! (`qweave_hw::ucode`): the ROM with each opcode's routine (`qw_ucode_rom`) and the register
//! file with its constants (`qw_ucode_regs`). The ROM is an initialized array with a
//! registered read, which yosys maps onto six block RAMs in 512 x 8 mode; the register file
//! instantiates two iCE40 256 x 16 block RAMs under `QW_ICE40_BLOCKS` (an inferred one would
//! get logic to define a read of the entry being written), with the constants as their
//! initial contents. Otherwise it is an initialized array: plain under other synthesis
//! (Xilinx block RAMs read the old entry), and in simulation a model that garbles such a
//! read, as `qw_ram`'s does.

use qweave_hw::ucode::program::{Program, assemble};
use std::fmt::Write;

/// A 256 x 16 block's `INIT_0` to `INIT_F` parameters for `words` (at most 256).
fn init_params(words: &[u16]) -> String {
    (0..16)
        .map(|k| {
            let hex: String = (0..16)
                .rev()
                .map(|i| format!("{:04x}", words.get(16 * k + i).copied().unwrap_or(0)))
                .collect();
            format!(".INIT_{k:X}(256'h{hex})")
        })
        .collect::<Vec<_>>()
        .join(",\n      ")
}

/// A 256 x 16 block holding `words` at first, read at `raddr` into `rdata`, written through
/// the module's `we`, `wa` and `wd`.
fn block(name: &str, words: &[u16], rdata: &str, raddr: &str) -> String {
    format!(
        "  SB_RAM40_4K #(.READ_MODE(0), .WRITE_MODE(0),\n      {}) {name} (\n      \
         .RDATA({rdata}), .RCLK(clk), .RCLKE(1'b1), .RE(1'b1), .RADDR({{3'd0, {raddr}}}),\n      \
         .WCLK(clk), .WCLKE(1'b1), .WE(we), .WADDR({{3'd0, wa}}), .MASK(16'd0), .WDATA(wd));\n",
        init_params(words)
    )
}

fn rom(p: &Program) -> String {
    let words: Vec<u64> = p.rom.iter().map(qweave_hw::ucode::Uop::encode).collect();
    let mut s = String::from(
        "// qw_ucode_rom: the post-processing microcode (generated from qweave_hw::ucode), 512 \
         x 48 bits with\n// a registered read, and each opcode's routine.\n\
         module qw_ucode_rom (\n    input  logic        clk,\n    input  logic [8:0]  addr,\n    \
         output logic [47:0] data,\n    input  logic [7:0]  opcode,\n    output logic [8:0]  entry\n);\n",
    );
    s += "  always_comb begin\n    case (opcode)\n";
    for (k, e) in p.entries.iter().enumerate() {
        if k + 1 < p.entries.len() {
            let _ = writeln!(s, "      8'd{}: entry = 9'd{e};", k + 4);
        } else {
            let _ = writeln!(s, "      default: entry = 9'd{e};");
        }
    }
    s += "    endcase\n  end\n";
    s += "  logic [47:0] image [0:511];\n  initial begin\n";
    for k in 0..512 {
        let _ = writeln!(
            s,
            "    image[{k}] = 48'h{:012x};",
            words.get(k).copied().unwrap_or(0)
        );
    }
    s += "  end\n  always_ff @(posedge clk) data <= image[addr];\nendmodule\n";
    s
}

fn regs(p: &Program) -> String {
    let mut s = String::from(
        "// qw_ucode_regs: the micro-machine's 256 x 16 register file (generated from \
         qweave_hw::ucode):\n// one write port, two registered read ports, the constants \
         in place at configuration.\n\
         module qw_ucode_regs (\n    input  logic        clk,\n    input  logic        we,\n    \
         input  logic [7:0]  wa,\n    input  logic [15:0] wd,\n    input  logic [7:0]  ra_a,\n    \
         output logic [15:0] rd_a,\n    input  logic [7:0]  ra_b,\n    output logic [15:0] rd_b\n);\n\
         `ifdef QW_ICE40_BLOCKS\n",
    );
    for (name, rd, ra) in [("port_a", "rd_a", "ra_a"), ("port_b", "rd_b", "ra_b")] {
        s += &block(name, &p.init, rd, ra);
    }
    s += "`else\n  logic [15:0] file [0:255];\n  initial begin\n";
    for (k, v) in p.init.iter().enumerate() {
        let _ = writeln!(s, "    file[{k}] = 16'h{v:04x};");
    }
    s += "  end\n  always_ff @(posedge clk) begin\n    if (we) file[wa] <= wd;\n`ifdef SYNTHESIS\n";
    s += "    rd_a <= file[ra_a];\n    rd_b <= file[ra_b];\n`else\n";
    s += "    rd_a <= we && wa == ra_a ? ~file[ra_a] : file[ra_a];\n";
    s += "    rd_b <= we && wa == ra_b ? ~file[ra_b] : file[ra_b];\n`endif\n  end\n`endif\n";
    s += "endmodule\n";
    s
}

/// Both modules.
pub fn memories() -> String {
    let p = assemble();
    rom(&p) + &regs(&p)
}

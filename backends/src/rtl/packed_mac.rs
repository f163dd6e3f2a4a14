//! The DSP48E2 PEs of one accelerator as SystemVerilog: for each packing they are built with,
//! the operands packed into the multiplier's 27- and 18-bit ports; one multiply; the 48-bit
//! cascade add; and the lanes decoded (`P[kS+S-1:kS] + P[kS-1]`, sign-extended), exactly as
//! `qweave_hw::multiply::Packing` computes them. The active `config`'s packing fields choose
//! the packing. Shifts are constants of each packing, so the packers are wiring and adders
//! behind a multiplexer, and each decoder is one adder per lane.
//!
//! Module `qw_dsp_row` packs a row's activations (`a`: up to `np`, 9 bits each, two's
//! complement so unsigned 8-bit values fit, operand `i` at bits `9i .. 9i+8`) into `act`, the
//! 27-bit value of the port the active packing puts them on; a row's PEs share it. Module
//! `qw_dsp_mul` (the multiply and cascade add), ports: `cfg` holds the `config` word's bytes 9
//! to 13 (`pack`, `kp`, `np`, `lane`, `wport`); `w` holds up to `kp` weights (9 bits each,
//! operand `j` at bits `9j .. 9j+8`) and `act` the row's packed activations; `pcin` is the
//! cascade input, `pcout = pcin + product`. Module `qw_dsp_pe` (`pe`, what
//! `tests/rtl_packed_mac.rs` checks: the two with `a` in place of `act`) adds `lanes`: each
//! lane of `pcout` sign-extended to 48 bits, lane `k` at bits `48k .. 48k+47` (zero past the
//! packing's lanes, and everywhere under a packing the PE is not built with). Module
//! `qw_dsp_column` (`column`, what the array is built of) chains a column's multiplies down
//! the cascade and decodes once per group of the packing's accumulation depth.

use qweave_hw::isa::{Config, Format, MulPort, Pack};
use qweave_hw::multiply::{Layout, Packing, Port};
use qweave_hw::pe::PeMode;
use std::fmt::Write;

/// Bits per operand on the ports.
pub const OPERAND_BITS: u32 = 9;

/// The shift of weight `j` and activation `i` in their packed operands.
fn shifts(p: &Packing) -> (Vec<u32>, Vec<u32>) {
    let s = u32::from(p.lane_bits);
    let kp = u32::from(p.weights);
    let w = (0..kp).map(|j| j * s).collect();
    let a = (0..u32::from(p.activations))
        .map(|i| match p.layout {
            Layout::Kernel => i * kp * s,
            Layout::Filter => i * s,
        })
        .collect();
    (w, a)
}

/// `Σ x_j << shift_j` over the 9-bit operands of `bus`, as a 48-bit signed sum.
fn packer(bus: &str, shifts: &[u32]) -> String {
    let terms: Vec<String> = shifts
        .iter()
        .enumerate()
        .map(|(j, sh)| {
            let lo = j as u32 * OPERAND_BITS;
            format!(
                "(48'(signed'({bus}[{}:{lo}])) <<< {sh})",
                lo + OPERAND_BITS - 1
            )
        })
        .collect();
    terms.join(" + ")
}

/// The hardware shape of a DSP packing (the operands' values do not change the circuit).
pub fn shape(pe: PeMode) -> Option<Packing> {
    pe.packing(&Config {
        wfmt: Format::Bipolar,
        afmt: Format::Bipolar,
        ..Config::zeroed()
    })
}

/// The `cfg` value that selects `pe`: the `config` word's bytes 9 to 13 as one 40-bit number.
pub fn key(pe: PeMode) -> u64 {
    let pack = Pack::ALL.iter().position(|&p| p == pe.pack).unwrap_or(0) as u64;
    let wport = MulPort::ALL
        .iter()
        .position(|&p| p == pe.wport)
        .unwrap_or(0) as u64;
    pack | u64::from(pe.kp) << 8 | u64::from(pe.np) << 16 | u64::from(pe.lane) << 24 | wport << 32
}

/// The sizes of the PE built with `pes`: the most weights, activations and lanes of any.
pub fn sizes(pes: &[PeMode]) -> (u32, u32, u32) {
    let shapes: Vec<Packing> = pes.iter().filter_map(|&pe| shape(pe)).collect();
    let most = |f: &dyn Fn(&Packing) -> u32| shapes.iter().map(f).max().unwrap_or(0);
    (
        most(&|p| u32::from(p.weights)),
        most(&|p| u32::from(p.activations)),
        most(&|p| p.lanes() as u32),
    )
}

/// The DSP packings of `pes`, duplicates and non-DSP entries skipped, or an error if none.
fn built(pes: &[PeMode]) -> Result<Vec<PeMode>, String> {
    let mut built: Vec<PeMode> = Vec::new();
    for &pe in pes {
        if shape(pe).is_some() && !built.contains(&pe) {
            built.push(pe);
        }
    }
    if built.is_empty() {
        return Err("the DSP48E2 PE is built with no packing".into());
    }
    Ok(built)
}

/// `on[k]`: whether `cfg` selects packing `k` of `built`.
fn selects(built: &[PeMode]) -> String {
    let mut v = format!("  logic [{}:0] on;\n", built.len() - 1);
    for (k, &pe) in built.iter().enumerate() {
        let _ = writeln!(v, "  assign on[{k}] = cfg == 40'h{:010x};", key(pe));
    }
    v
}

/// Bits of a row's packed activations, `act`: the DSP48E2's wider port.
pub const ACT_BITS: u32 = 27;

/// The module `qw_dsp_row`: one array row's activations packed for the active packing of
/// `built` (`act`, the value of the port the packing puts them on; a row's PEs share it).
fn row(built: &[PeMode]) -> String {
    let (_, npm, _) = sizes(built);
    let mut v = String::new();
    let _ = writeln!(
        v,
        "// qw_dsp_row: a row's activations packed for the DSP48E2s, {} packing(s), generated \
         by qweave (backends/src/rtl/packed_mac.rs)\n\
         module qw_dsp_row (\n  input  logic [39:0] cfg,\n  input  logic [{}:0] a,\n  \
         output logic [{}:0] act\n);\n{}",
        built.len(),
        npm * OPERAND_BITS - 1,
        ACT_BITS - 1,
        selects(built)
    );
    let mut select = String::new();
    let mut unused = Vec::new();
    for (k, &pe) in built.iter().enumerate() {
        let p = shape(pe).expect("a DSP packing");
        let (_, as_) = shifts(&p);
        let _ = writeln!(
            v,
            "  // {k}: {}\n  logic signed [47:0] pa{k};\n  assign pa{k} = {};",
            p.scheme(),
            packer("a", &as_)
        );
        let _ = writeln!(
            select,
            "    {}if (on[{k}]) act = pa{k}[{}:0];",
            if k == 0 { "" } else { "else " },
            ACT_BITS - 1
        );
        unused.push(format!("pa{k}[47:{ACT_BITS}]"));
    }
    let _ = writeln!(
        v,
        "  always_comb begin\n    act = '0;\n{select}  end\n  \
         // (pa above the port widths only repeats the sign of a legal packing)\n  \
         /* verilator lint_off UNUSEDSIGNAL */\n  logic unused;\n  assign unused = ^{{{}}};\n  \
         /* verilator lint_on UNUSEDSIGNAL */\nendmodule",
        unused.join(", ")
    );
    v
}

/// The module `qw_dsp_mul`: the weights packed for the active packing of `built`, they and
/// the row's packed activations (`act`, from `qw_dsp_row`) on the ports the packing puts
/// them on, one multiply, and the cascade add `pcout = pcin + product`.
fn mul(built: &[PeMode]) -> String {
    let (kpm, _, _) = sizes(built);
    let mut v = String::new();
    let _ = writeln!(
        v,
        "// qw_dsp_mul: a DSP48E2's multiply and cascade add with {} packing(s), generated by \
         qweave (backends/src/rtl/packed_mac.rs)\n\
         module qw_dsp_mul (\n  input  logic [39:0] cfg,\n  input  logic [{}:0] w,\n  \
         input  logic [{}:0] act,\n  input  logic signed [47:0] pcin,\n  \
         output logic signed [47:0] pcout\n);\n{}",
        built.len(),
        kpm * OPERAND_BITS - 1,
        ACT_BITS - 1,
        selects(built)
    );
    let _ = writeln!(
        v,
        "  // the DSP48E2's ports: 27 bits (A, through the pre-adder) and 18 bits (B)\n  \
         logic signed [26:0] port_a;\n  logic signed [17:0] port_b;\n  \
         logic signed [44:0] product;"
    );
    let mut select = String::new();
    let mut unused = Vec::new();
    for (k, &pe) in built.iter().enumerate() {
        let p = shape(pe).expect("a DSP packing");
        let (kp, np) = (u32::from(p.weights), u32::from(p.activations));
        let (ws, _) = shifts(&p);
        let (wide, narrow) = match p.weights_on {
            Port::A => (format!("pw{k}[26:0]"), "act[17:0]".to_string()),
            Port::B => ("act".to_string(), format!("pw{k}[17:0]")),
        };
        let _ = writeln!(
            v,
            "  // {k}: {} ({} kp {kp} np {np} lane {} wport {})\n  \
             logic signed [47:0] pw{k};\n  assign pw{k} = {};",
            p.scheme(),
            pe.pack.name(),
            pe.lane,
            pe.wport.name(),
            packer("w", &ws)
        );
        let _ = writeln!(
            select,
            "    {}if (on[{k}]) begin\n      port_a = {wide};\n      port_b = {narrow};\n    end",
            if k == 0 { "" } else { "else " }
        );
        unused.push(format!("pw{k}[47:18]"));
    }
    unused.push("act".into());
    // the packed sums above the ports are zero or sign copies for a legal packing, and a
    // packing whose weights sit on the 18-bit port leaves bits 18..26 of them unread
    let _ = writeln!(
        v,
        "  always_comb begin\n    port_a = '0;\n    port_b = '0;\n{select}  end\n  \
         assign product = port_a * port_b;\n  assign pcout = pcin + 48'(product);\n  \
         // (pw above the port widths only repeats the sign of a legal packing)\n  \
         /* verilator lint_off UNUSEDSIGNAL */\n  logic unused;\n  assign unused = ^{{{}}};\n  \
         /* verilator lint_on UNUSEDSIGNAL */\nendmodule",
        unused.join(", ")
    );
    v
}

/// The lanes of the 48-bit sum `sum` (a cascade's) decoded into `lanes` (`lanes` x 48 bits,
/// sign-extended) for the packings of `built` that `decodes` marks (zero under another);
/// `tag` keeps the wires of several decoders in one module apart.
fn decoder(built: &[PeMode], decodes: &[bool], sum: &str, out: &str, tag: &str) -> String {
    let mut wires = String::new();
    let mut body = String::new();
    let mut first = true;
    for (k, &pe) in built.iter().enumerate() {
        if !decodes[k] {
            continue;
        }
        let p = shape(pe).expect("a DSP packing");
        let s = u32::from(p.lane_bits);
        let lanes = p.lanes() as u32;
        let mut one = String::new();
        for l in 0..lanes {
            let lo = l * s;
            let width = if l + 1 < lanes { s } else { 48 - lo };
            let hi = lo + width - 1;
            let field = if l == 0 {
                format!("{sum}[{hi}:{lo}]")
            } else {
                format!("{sum}[{hi}:{lo}] + {width}'({sum}[{}])", lo - 1)
            };
            let _ = writeln!(wires, "  wire [{}:0] d{tag}{k}_{l} = {field};", width - 1);
            let _ = writeln!(
                one,
                "      {out}[{}:{}] = 48'(signed'(d{tag}{k}_{l}));",
                48 * l + 47,
                48 * l
            );
        }
        let _ = write!(
            body,
            "    {}if (on[{k}]) begin\n{one}    end\n",
            if first { "" } else { "else " }
        );
        first = false;
    }
    format!(
        "{wires}  // lane decode: each field plus the borrow bit below it\n  always_comb begin\n    \
         {out} = '0;\n{body}  end\n"
    )
}

/// The SystemVerilog module `qw_dsp_pe` built with the DSP packings `pes` (duplicates and
/// non-DSP entries are skipped), or why it cannot be: `qw_dsp_mul` ([`multiplier`]) with its
/// own lanes decoded (`lanes`).
pub fn pe(pes: &[PeMode]) -> Result<String, String> {
    let built = built(pes)?;
    let (kpm, npm, lm) = sizes(&built);
    let all = vec![true; built.len()];
    Ok(format!(
        "// qw_dsp_pe: qw_dsp_mul with its lanes decoded, generated by qweave \
         (backends/src/rtl/packed_mac.rs)\n\
         module qw_dsp_pe (\n  input  logic [39:0] cfg,\n  input  logic [{}:0] w,\n  \
         input  logic [{}:0] a,\n  input  logic signed [47:0] pcin,\n  \
         output logic signed [47:0] pcout,\n  output logic [{}:0] lanes\n);\n{}  \
         logic [{}:0] act;\n  qw_dsp_row row (.cfg, .a, .act);\n  \
         qw_dsp_mul mul (.cfg, .w, .act, .pcin, .pcout);\n{}endmodule\n",
        kpm * OPERAND_BITS - 1,
        npm * OPERAND_BITS - 1,
        lm * 48 - 1,
        selects(&built),
        ACT_BITS - 1,
        decoder(&built, &all, "pcout", "lanes", "")
    ))
}

/// The SystemVerilog module `qw_dsp_mul` built with the DSP packings `pes` (as for [`pe`]).
pub fn multiplier(pes: &[PeMode]) -> Result<String, String> {
    Ok(mul(&built(pes)?))
}

/// The SystemVerilog module `qw_dsp_row` built with the DSP packings `pes` (as for [`pe`]).
pub fn row_packer(pes: &[PeMode]) -> Result<String, String> {
    Ok(row(&built(pes)?))
}

/// The SystemVerilog modules `qw_dsp_row`, `qw_dsp_mul` and `qw_dsp_column`: a column of `rows` DSP PEs
/// built with `pes` (each with its accumulation depth, which its lanes may be summed to
/// before a decode), whose products run down the cascade, restarting every `depth` rows of
/// the active packing, each group decoded at its last row, and every lane summed over the
/// decoded groups (`sums`, `lanes` x 48 bits). A row decodes only the packings whose groups
/// end there, so a packing of depth `d` costs `ceil(rows / d)` decoders per column. Row `r`'s
/// weights are at `w[r*KPM*9 ..]`, and its packed activations (`qw_dsp_row`'s, one per row of
/// the array) at `act[r*27 ..]`.
pub fn column(pes: &[(PeMode, u64)], rows: u32) -> Result<String, String> {
    let modes: Vec<PeMode> = pes.iter().map(|&(p, _)| p).collect();
    let built = built(&modes)?;
    // a packing listed under several modes sums safely to the smallest of their depths
    let depth: Vec<u64> = built
        .iter()
        .map(|b| {
            pes.iter()
                .filter(|(p, _)| p == b)
                .map(|&(_, d)| d.max(1))
                .min()
                .unwrap_or(1)
        })
        .collect();
    let (kpm, _, lm) = sizes(&built);
    let (wb, ab) = (kpm * OPERAND_BITS, ACT_BITS);
    let mut v = String::new();
    let _ = writeln!(
        v,
        "{}\n{}\n// qw_dsp_column: {rows} DSP PEs down a cascade, generated by qweave \
         (backends/src/rtl/packed_mac.rs); depths: {}\n\
         module qw_dsp_column (\n  input  logic [39:0] cfg,\n  input  logic [{}:0] w,\n  \
         input  logic [{}:0] act,\n  output logic [{}:0] sums\n);\n{}",
        row(&built),
        mul(&built),
        depth
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        rows * wb - 1,
        rows * ab - 1,
        lm * 48 - 1,
        selects(&built)
    );
    let mut decoded = Vec::new();
    for r in 0..rows {
        let r64 = u64::from(r);
        // the packings whose groups start at this row (the cascade input is then zero)
        let starts: Vec<String> = (0..built.len())
            .filter(|&k| r > 0 && r64 % depth[k] == 0)
            .map(|k| format!("on[{k}]"))
            .collect();
        let pcin = if r == 0 {
            "48'sd0".to_string()
        } else if starts.is_empty() {
            format!("p{}", r - 1)
        } else {
            format!("({}) ? 48'sd0 : p{}", starts.join(" || "), r - 1)
        };
        let _ = writeln!(
            v,
            "  logic signed [47:0] p{r};\n  qw_dsp_mul m{r} (.cfg, .w(w[{}:{}]), .act(act[{}:{}]), \
             .pcin({pcin}), .pcout(p{r}));",
            (r + 1) * wb - 1,
            r * wb,
            (r + 1) * ab - 1,
            r * ab
        );
        let ends: Vec<bool> = (0..built.len())
            .map(|k| r + 1 == rows || (r64 + 1) % depth[k] == 0)
            .collect();
        if ends.iter().any(|&e| e) {
            // (the bits above a lane's field only repeat its sign: the sums skip them)
            let _ = writeln!(
                v,
                "  /* verilator lint_off UNUSEDSIGNAL */\n  logic [{}:0] l{r};\n  \
                 /* verilator lint_on UNUSEDSIGNAL */",
                lm * 48 - 1
            );
            v += &decoder(
                &built,
                &ends,
                &format!("p{r}"),
                &format!("l{r}"),
                &format!("r{r}_"),
            );
            decoded.push(r);
        }
    }
    // a lane's decoded values are as wide as its field in any packing with that lane (the top
    // lane's reaches bit 47), so its sum over the groups is exact that wide plus the bits
    // the count of groups adds
    let grow = usize::BITS - decoded.len().leading_zeros();
    let mut sum = String::new();
    for l in 0..lm {
        let field = built
            .iter()
            .filter_map(|&pe| shape(pe))
            .filter(|p| p.lanes() as u32 > l)
            .map(|p| {
                let s = u32::from(p.lane_bits);
                if l + 1 < p.lanes() as u32 {
                    s
                } else {
                    48 - l * s
                }
            })
            .max()
            .unwrap_or(1);
        let width = (field + grow).min(48);
        let terms: Vec<String> = decoded
            .iter()
            .map(|r| format!("{width}'($signed(l{r}[{}:{}]))", 48 * l + field - 1, 48 * l))
            .collect();
        let _ = writeln!(
            sum,
            "  logic signed [{}:0] s{l};\n  assign s{l} = {};\n  \
             assign sums[{}:{}] = 48'(s{l});",
            width - 1,
            terms.join(" + "),
            48 * l + 47,
            48 * l
        );
    }
    let _ = write!(
        v,
        "  // each lane over the decoded groups\n{sum}endmodule\n"
    );
    Ok(v)
}

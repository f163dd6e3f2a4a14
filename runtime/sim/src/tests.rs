//! Hand-assembled programs checked against direct formulas, and the controller's timing,
//! race and deadlock behaviour.

use super::*;
use qweave_hw::Target;
use qweave_hw::isa::packing::{read, write};
use qweave_hw::isa::{Format, MulPort, Pack, text};
use qweave_ir::RoundingMode;

fn asm(s: &str) -> Vec<Instr> {
    text::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

/// Values from a small linear congruential generator in `[lo, hi]`.
fn values(n: usize, lo: i64, hi: i64, seed: u64) -> Vec<i64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + ((s >> 33) as i64).rem_euclid(hi - lo + 1)
        })
        .collect()
}

fn pack(dram: &mut [u8], at: u32, bits: u8, fmt: Format, vs: &[i64]) {
    for (e, &v) in vs.iter().enumerate() {
        write(dram, 8 * u64::from(at), e as u64, bits, fmt, v).unwrap();
    }
}

const PADDED_CONV: &str = "
config @0 w=4 a=8 wfmt=signed afmt=unsigned acc_bits=20 pack=bricks kp=0 np=0 lane=0 wport=a
load @0 buf=inp fmt=unsigned bits=8 pad_top=1 pad_bottom=1 pad_left=1 pad_right=1 sram=0 dram=0 z=2 y=4 x=4 zs=16 ys=4 xs=1 offset=0 fill=0 bit=0
load @0 buf=wgt fmt=signed bits=4 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=32 z=1 y=1 x=54 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0 push=next
load @0 buf=acc fmt=signed bits=32 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=64 z=3 y=4 x=4 zs=1 ys=0 xs=0 offset=0 fill=0 bit=0
load @0 buf=par fmt=signed bits=32 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=80 z=1 y=1 x=12 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0
gemm @0 inp=0 wgt=0 acc=0 groups=1 cin=2 ih=6 iw=6 m=3 oh=4 ow=4 kh=3 kw=3 sh=1 sw=1 dh=1 dw=1 reset=0 pop=prev
requant @0 acc=0 z=3 y=4 x=4 par=0 pstride=4 rounding=half_even ofmt=unsigned obits=8 push=next
store @0 sram=0 dram=128 fmt=unsigned bits=8 z=3 y=4 x=4 zs=16 ys=4 xs=1 bit=0 pop=prev
end @0
";

#[test]
fn a_padded_convolution_matches_its_formula() {
    let hw = Target::Sim.preset();
    let x = values(32, 0, 255, 1);
    let w = values(54, -8, 7, 2);
    let b = values(3, -500, 500, 3);
    let records = [[1_300_000, 26, 0, 5], [2_000_000, 27, 0, 0], [1, 0, 0, 100]];
    let mut dram = vec![0u8; 176];
    pack(&mut dram, 0, 8, Format::Unsigned, &x);
    pack(&mut dram, 32, 4, Format::Signed, &w);
    pack(&mut dram, 64, 32, Format::Signed, &b);
    pack(&mut dram, 80, 32, Format::Signed, &records.concat());
    let run = simulate(&hw, &asm(PADDED_CONV), dram).unwrap();
    for o in 0..3 {
        let [mult, shift, _, zp] = records[o];
        for i in 0..4i64 {
            for j in 0..4i64 {
                let mut s = b[o];
                for c in 0..2 {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (yy, xx) = (i + ky - 1, j + kx - 1);
                            if (0..4).contains(&yy) && (0..4).contains(&xx) {
                                s += x[(c * 16 + yy * 4 + xx) as usize]
                                    * w[o * 18 + (c * 9 + ky * 3 + kx) as usize];
                            }
                        }
                    }
                }
                let want = (RoundingMode::HalfEven.shift(i128::from(s * mult), shift as u32)
                    + i128::from(zp))
                .clamp(0, 255) as i64;
                let e = (o as i64 * 16 + i * 4 + j) as u64;
                assert_eq!(
                    read(&run.dram, 8 * 128, e, 8, Format::Unsigned),
                    Some(want),
                    "filter {o} at {i},{j}"
                );
            }
        }
    }
    assert_eq!(run.macs, 3 * 16 * 18);
    assert_eq!(run.layers[&0].macs, run.macs);
    // bytes: 32 input, 27 weights, 12 bias, 48 parameters, 48 output
    assert_eq!(run.dram_bytes, 32 + 27 + 12 + 48 + 48);
    assert!(run.cycles > 0 && run.layers[&0].end == run.cycles);
}

/// Two tiles through the two halves of the input buffer: the second tile's load runs while
/// the first tile computes, so the run is shorter than its instructions one after another.
#[test]
fn ping_pong_loads_overlap_compute() {
    let hw = Target::Sim.preset();
    let half = hw.rows * hw.input_bank_bytes; // entries of one half at 8 bits
    let tile = |sram: u32, dram: u32, deps: &str| {
        format!(
            "load @0 buf=inp fmt=signed bits=8 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram={sram} dram={dram} z=8 y=16 x=16 zs=256 ys=16 xs=1 offset=0 fill=0 bit=0 {deps}\n"
        )
    };
    let gemm = |inp: u32, acc: u32, deps: &str| {
        format!(
            "gemm @0 inp={inp} wgt=0 acc={acc} groups=1 cin=8 ih=16 iw=16 m=8 oh=14 ow=14 kh=3 kw=3 sh=1 sw=1 dh=1 dw=1 reset=1 {deps}\n"
        )
    };
    let prog = [
        "config @0 w=8 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 lane=0 wport=a\n".to_string(),
        "load @0 buf=wgt fmt=signed bits=8 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=4096 z=1 y=1 x=576 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0\n".into(),
        tile(0, 0, "push=next"),
        tile(half, 2048, "push=next"),
        gemm(0, 0, "pop=prev"),
        gemm(half, 0, "pop=prev"),
        "end @0\n".into(),
    ]
    .concat();
    let p = asm(&prog);
    let run = simulate(&hw, &p, vec![0; 8192]).unwrap();
    let serial: u64 = p
        .iter()
        .map(|i| qweave_hw::cost(&hw, qweave_hw::Rate::bricks(1), &i.op).cycles)
        .sum();
    assert!(run.cycles < serial, "{} vs {serial}", run.cycles);
    // the compute queue is the bottleneck: its two gemms run back to back
    let gemm_cycles = qweave_hw::cost(&hw, qweave_hw::Rate::bricks(1), &p[4].op).cycles;
    assert!(run.layers[&0].busy[1] >= 2 * gemm_cycles);
    // timing alone gives the same figures without computing a value
    let t = time(&hw, &p).unwrap();
    assert_eq!(
        (t.cycles, t.macs, t.dram_bytes),
        (run.cycles, run.macs, run.dram_bytes)
    );
    assert_eq!(t.layers, run.layers);
    assert!(t.dram.is_empty());
}

#[test]
fn a_missing_token_is_a_race_and_a_token_never_pushed_a_deadlock() {
    let hw = Target::Sim.preset();
    let load = "load @0 buf=inp fmt=signed bits=8 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=0 z=8 y=16 x=16 zs=256 ys=16 xs=1 offset=0 fill=0 bit=0";
    let gemm = "gemm @0 inp=0 wgt=0 acc=0 groups=1 cin=8 ih=16 iw=16 m=8 oh=14 ow=14 kh=3 kw=3 sh=1 sw=1 dh=1 dw=1 reset=1";
    let cfg = "config @0 w=8 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 lane=0 wport=a";
    // the gemm does not wait for the load of the tile it reads
    let racy = asm(&format!("{cfg}\n{load}\n{gemm}\nend @0\n"));
    let e = simulate(&hw, &racy, vec![0; 4096]).unwrap_err();
    assert!(matches!(e, SimError::Race { mem: "inp", .. }), "{e}");
    assert!(e.to_string().contains("no dependency tokens order them"));
    let ordered = asm(&format!(
        "{cfg}\n{load} push=next\n{gemm} pop=prev\nend @0\n"
    ));
    assert!(simulate(&hw, &ordered, vec![0; 4096]).is_ok());
    let stuck = asm(&format!("{cfg}\n{load}\n{gemm} pop=prev\nend @0\n"));
    let e = simulate(&hw, &stuck, vec![0; 4096]).unwrap_err();
    assert_eq!(
        e,
        SimError::Deadlock {
            index: 2,
            op: "gemm",
            queue: "compute"
        }
    );
    let no_end = asm(cfg);
    assert_eq!(simulate(&hw, &no_end, vec![]).unwrap_err(), SimError::NoEnd);
}

/// Post-processing instructions on a few accumulators loaded from DRAM.
#[test]
fn post_processing_computes_its_formulas() {
    let hw = Target::Sim.preset();
    let acc_load = |sram, dram, n, offset| {
        format!(
            "load @1 buf=acc fmt=signed bits=16 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram={sram} dram={dram} z=1 y=1 x={n} zs=0 ys=0 xs=1 offset={offset} fill=0 bit=0\n"
        )
    };
    // a: 8 values at 0, b: 2 values at 16 (broadcast per channel), table at 32, thresholds at 64
    let mut dram = vec![0u8; 128];
    let a = [-300, -5, 0, 7, 120, 3000, -1, 2];
    pack(&mut dram, 0, 16, Format::Signed, &a);
    pack(&mut dram, 16, 16, Format::Signed, &[10, -20]);
    let table: Vec<i64> = (0..16).map(|i| i * i).collect();
    pack(&mut dram, 32, 8, Format::Unsigned, &table);
    pack(
        &mut dram,
        64,
        16,
        Format::Signed,
        &[-10, 0, 10, 100, 0, 1, 2, 3],
    );
    let prog = [
        "config @1 w=8 a=8 wfmt=signed afmt=signed acc_bits=24 pack=bricks kp=0 np=0 lane=0 wport=a\n".to_string(),
        acc_load(0, 0, 8, 0),
        acc_load(8, 16, 2, 3), // offset: b - 3
        // a (2 channels of 4) + b broadcast per channel, saturated to i8
        "alu @1 op=add dst=0 src=8 z=2 y=1 x=4 szs=1 sys=0 sxs=0 dzp=0 szp=0 ozp=0 ofmt=signed obits=8\n".into(),
        "store @1 sram=0 dram=96 fmt=signed bits=8 z=1 y=1 x=8 zs=0 ys=0 xs=1 bit=0\n".into(),
        acc_load(16, 0, 8, 0),
        "clamp @1 acc=16 z=1 y=1 x=8 lo=-3 hi=12\n".into(),
        "load @1 buf=lut fmt=unsigned bits=8 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=32 z=1 y=1 x=16 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0\n".into(),
        "lut @1 acc=16 z=1 y=1 x=8 lut=0 entries=16 min=-3\n".into(),
        "store @1 sram=16 dram=104 fmt=unsigned bits=8 z=1 y=1 x=8 zs=0 ys=0 xs=1 bit=0\n".into(),
        acc_load(24, 0, 8, 0),
        "load @1 buf=par fmt=signed bits=16 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=64 z=1 y=1 x=8 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0\n".into(),
        "thresh @1 acc=24 z=2 y=1 x=4 par=0 count=4 pstride=4 bias=-1 ofmt=signed obits=2\n".into(),
        "store @1 sram=24 dram=112 fmt=signed bits=8 z=1 y=1 x=8 zs=0 ys=0 xs=1 bit=0\n".into(),
        acc_load(32, 0, 8, 0),
        // 2x2 windows of a 2x4 plane with stride 2: max, then sum
        "pool @1 kind=max src=32 dst=40 c=1 ih=2 iw=4 oh=1 ow=2 kh=2 kw=2 sh=2 sw=2 dh=1 dw=1\n".into(),
        "pool @1 kind=sum src=32 dst=42 c=1 ih=2 iw=4 oh=1 ow=2 kh=2 kw=2 sh=2 sw=2 dh=1 dw=1\n".into(),
        "store @1 sram=40 dram=120 fmt=signed bits=16 z=1 y=1 x=4 zs=0 ys=0 xs=1 bit=0\n".into(),
        "end @1\n".into(),
    ]
    .concat();
    // the compute queue's stores here are on the store queue without tokens; run them one
    // instruction at a time by making each store wait for compute and compute for the store
    let mut p = asm(&prog);
    for k in 0..p.len() {
        if matches!(p[k].op, qweave_hw::isa::Op::Store(_)) {
            p[k].deps.pop_prev = true;
            p[k].deps.push_prev = true;
            p[k - 1].deps.push_next = true;
            p[k + 1].deps.pop_next = true;
        }
    }
    let run = simulate(&hw, &p, dram).unwrap();
    let got = |at: u32, n: u64, bits: u8| -> Vec<i64> {
        (0..n)
            .map(|e| read(&run.dram, 8 * u64::from(at), e, bits, Format::Signed).unwrap())
            .collect()
    };
    // a + (b - 3): channel 0 adds 7, channel 1 adds -23, saturated to [-128, 127]
    assert_eq!(got(96, 8, 8), [-128, 2, 7, 14, 97, 127, -24, -21]);
    let squares: Vec<i64> = a
        .iter()
        .map(|&v| {
            let c = v.clamp(-3, 12) + 3;
            c * c
        })
        .collect();
    let unsigned: Vec<i64> = (0..8)
        .map(|e| read(&run.dram, 8 * 104, e, 8, Format::Unsigned).unwrap())
        .collect();
    assert_eq!(unsigned, squares);
    // channel 0 thresholds -10, 0, 10, 100; channel 1: 0, 1, 2, 3; bias -1, into i2
    assert_eq!(got(112, 8, 8), [-1, 0, 1, 1, 1, 1, -1, 1]);
    // planes [[-300, -5, 0, 7], [120, 3000, -1, 2]]: windows {-300, -5, 120, 3000} and {0, 7, -1, 2}
    assert_eq!(got(120, 4, 16), [3000, 7, 2815, 8]);
}

#[test]
fn values_that_do_not_fit_stop_the_run_naming_the_instruction() {
    let hw = Target::Sim.preset();
    // 200 is not a signed 8-bit operand
    let p = asm(
        "config @2 w=8 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 lane=0 wport=a
load @2 buf=inp fmt=unsigned bits=8 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=0 z=1 y=1 x=1 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0
end @2",
    );
    let e = simulate(&hw, &p, vec![200]).unwrap_err().to_string();
    assert!(
        e.starts_with("instruction 1 (load, layer 2)") && e.contains("does not fit inp"),
        "{e}"
    );
    // past DRAM's end
    let e = simulate(&hw, &p, vec![]).unwrap_err().to_string();
    assert!(e.contains("past its 0 bytes"), "{e}");
    // a mode the PE lacks
    let p = asm(
        "config @0 w=2 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 lane=0 wport=a\nend @0",
    );
    let e = simulate(&hw, &p, vec![]).unwrap_err().to_string();
    assert!(e.contains("w2a8 is not one of the PE's"), "{e}");
    // packings the PE does not run: bricks on DSP blocks, one it is not built with, and (built
    // with them all) lanes too narrow for the products, more products than the mode decodes,
    // packed operands too wide for their port
    let mut dsp = Target::Xczu3eg.preset();
    let p = asm(
        "config @0 w=4 a=4 wfmt=signed afmt=unsigned pack=kernel kp=2 np=2 lane=11 wport=b acc_bits=32\nend @0",
    );
    let e = simulate(&dsp, &p, vec![]).unwrap_err().to_string();
    assert!(e.contains("not built with kernel 2x2"), "{e}");
    dsp.packings = [
        (8, 8, Pack::Kernel, 2, 1, 15, MulPort::A),
        (2, 2, Pack::Filter, 3, 8, 3, MulPort::B),
        (4, 4, Pack::Filter, 3, 3, 9, MulPort::B),
    ]
    .into_iter()
    .map(|(w, a, pack, kp, np, lane, wport)| qweave_hw::Packed {
        mode: qweave_hw::Mode { w, a },
        pe: qweave_hw::pe::PeMode {
            pack,
            kp,
            np,
            lane,
            wport,
        },
    })
    .collect();
    for (fields, want) in [
        (
            "w=8 a=8 wfmt=signed afmt=unsigned pack=bricks kp=0 np=0 lane=0 wport=a",
            "not one a Dsp48e2 PE runs",
        ),
        (
            "w=8 a=8 wfmt=signed afmt=unsigned pack=kernel kp=2 np=1 lane=15 wport=a",
            "cannot hold its products",
        ),
        (
            "w=2 a=2 wfmt=bipolar afmt=bipolar pack=filter kp=3 np=8 lane=3 wport=b",
            "more than the 15 lanes",
        ),
        (
            "w=4 a=4 wfmt=signed afmt=unsigned pack=filter kp=3 np=3 lane=9 wport=b",
            "do not fit the 18-bit port",
        ),
    ] {
        let p = asm(&format!("config @0 {fields} acc_bits=32\nend @0"));
        let e = simulate(&dsp, &p, vec![]).unwrap_err().to_string();
        assert!(e.contains(want), "{fields}: {e}");
    }
    // a store of a value its format cannot hold
    let p = asm(
        "load @0 buf=acc fmt=signed bits=16 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=0 z=1 y=1 x=1 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0 push=next
store @0 sram=0 dram=2 fmt=signed bits=4 z=1 y=1 x=1 zs=0 ys=0 xs=1 bit=0 pop=prev
end @0",
    );
    let e = simulate(&hw, &p, vec![100, 0, 0]).unwrap_err().to_string();
    assert!(e.contains("100 is not a 4-bit signed value"), "{e}");
}

/// A layer boundary: the next layer's load reads what the last store wrote, ordered through
/// the compute queue by two `sync`s; without them the two transfers race on DRAM.
#[test]
fn syncs_order_a_load_after_the_store_it_reads() {
    let hw = Target::Sim.preset();
    let body = |barrier: bool| {
        let (s, c, l) = if barrier {
            (
                " push=prev",
                "sync @0 queue=compute pop=next push=prev\n",
                " pop=next",
            )
        } else {
            ("", "", "")
        };
        format!(
            "config @0 w=8 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 lane=0 wport=a
load @0 buf=acc fmt=signed bits=8 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=0 z=1 y=1 x=64 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0 push=next
store @0 sram=0 dram=64 fmt=signed bits=8 z=1 y=1 x=64 zs=0 ys=0 xs=1 bit=0 pop=prev{s}
{c}load @1 buf=inp fmt=signed bits=8 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=64 z=1 y=1 x=64 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0{l}
end @1
"
        )
    };
    let dram: Vec<u8> = (0..128).map(|i| i as u8 % 100).collect();
    let run = simulate(&hw, &asm(&body(true)), dram.clone()).unwrap();
    assert_eq!(&run.dram[64..], &dram[..64]);
    let e = simulate(&hw, &asm(&body(false)), dram).unwrap_err();
    assert!(matches!(e, SimError::Race { mem: "DRAM", .. }), "{e}");
}

#[test]
fn an_alu_right_operand_may_be_its_destination_but_not_overlap_it() {
    let hw = Target::Sim.preset();
    let prog = |src: u32, sxs: u32| {
        asm(&format!(
            "config @0 w=8 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 lane=0 wport=a
load @0 buf=acc fmt=signed bits=8 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=0 z=1 y=1 x=12 zs=0 ys=0 xs=1 offset=0 fill=0 bit=0
alu @0 op=add dst=0 src={src} z=1 y=2 x=4 szs=8 sys=4 sxs={sxs} dzp=0 szp=0 ozp=0 ofmt=signed obits=16
end @0"
        ))
    };
    let dram: Vec<u8> = (1..=12).collect();
    // element for element: each value doubles
    let r = simulate(&hw, &prog(0, 1), dram.clone()).unwrap();
    assert!(r.cycles > 0);
    // shifted by two entries, or a broadcast inside the destination: refused
    for (src, sxs) in [(2, 1), (3, 0)] {
        let e = simulate(&hw, &prog(src, sxs), dram.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlaps the destination"), "{e}");
    }
    // beside it: fine
    simulate(&hw, &prog(8, 1), dram).unwrap();
}

#[test]
fn filter_packing_needs_the_row_stride_equal_to_its_dilation() {
    let hw = Target::Xczu3eg.preset();
    let prog = |sw: u8, dw: u8, kw: u8| {
        asm(&format!(
            "config @0 w=4 a=4 wfmt=signed afmt=unsigned acc_bits=32 pack=filter kp=3 np=2 lane=11 wport=a
gemm @0 inp=0 wgt=0 acc=0 groups=1 cin=1 ih=1 iw=9 m=1 oh=1 ow=2 kh=1 kw={kw} sh=1 sw={sw} dh=1 dw={dw} reset=1
end @0"
        ))
    };
    for (sw, dw, kw) in [(1, 1, 3), (2, 2, 3), (2, 1, 1)] {
        simulate(&hw, &prog(sw, dw, kw), vec![]).unwrap_or_else(|e| panic!("{sw} {dw}: {e}"));
    }
    let e = simulate(&hw, &prog(2, 1, 3), vec![])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("stride and dilation equal, found sw=2 dw=1"),
        "{e}"
    );
}

/// The serial datapath runs program order: a token must come from an earlier instruction,
/// its post-processing carries 32-bit immediates, and instructions follow one another 18
/// cycles apart (the controller's 2 and the fetch's 16) at its own costs.
#[test]
fn the_serial_datapath_runs_program_order_within_its_limits() {
    let hw = Target::Ice40up5k.preset();
    assert!(hw.serial);
    // the compute queue's sync pops a token the load queue's sync pushes after it
    let late = asm("
sync @0 queue=compute pop=prev
sync @0 queue=load push=next
end @0
");
    let e = time(&hw, &late).unwrap_err().to_string();
    assert!(
        e.contains("program order") && e.contains("instruction 0"),
        "{e}"
    );
    // the parallel controller runs it (the queues overlap)
    assert!(time(&Target::Sim.preset(), &late).is_ok());
    // in order, the tokens are there
    let early = asm("
sync @0 queue=load push=next
sync @0 queue=compute pop=prev
end @0
");
    let run = time(&hw, &early).unwrap();
    // three 1-cycle instructions, each fetched (16 cycles) after the one before and the
    // controller's 2
    assert_eq!(run.times, vec![(16, 17), (35, 36), (54, 55)]);
    assert_eq!(run.cycles, 55);
    // a clamp bound beyond 32 bits
    let wide = asm("
clamp @0 acc=0 z=1 y=1 x=1 lo=-4294967296 hi=5
end @0
");
    let e = simulate(&hw, &wide, vec![0; 16]).unwrap_err().to_string();
    assert!(e.contains("does not fit 32 bits"), "{e}");
    assert!(simulate(&Target::Sim.preset(), &wide, vec![0; 16]).is_ok());
    // a requantization saturating to 33 bits
    let wide = asm("
requant @0 acc=0 z=1 y=1 x=1 par=0 pstride=0 rounding=half_even ofmt=signed obits=33
end @0
");
    let e = simulate(&hw, &wide, vec![0; 16]).unwrap_err().to_string();
    assert!(e.contains("saturates to at most 32"), "{e}");
    // a parameter word beyond 32 bits: 0 less an offset of -2^32
    let word = asm("
load @0 buf=par fmt=signed bits=32 pad_top=0 pad_bottom=0 pad_left=0 pad_right=0 sram=0 dram=0 z=1 y=1 x=1 zs=0 ys=0 xs=1 offset=-4294967296 fill=0 bit=0
end @0
");
    let e = simulate(&hw, &word, vec![0; 16]).unwrap_err().to_string();
    assert!(e.contains("parameter words are 32 bits"), "{e}");
    assert!(simulate(&Target::Sim.preset(), &word, vec![0; 16]).is_ok());
    // DRAM is the UP5K's 128 KiB of SPRAM
    let end = asm("end @0\n");
    let limit = qweave_hw::serial::DRAM_BYTES as usize;
    assert!(simulate(&hw, &end, vec![0; limit]).is_ok());
    let e = simulate(&hw, &end, vec![0; limit + 1]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "DRAM holds 131073 bytes, but the serial datapath addresses 131072"
    );
    assert!(simulate(&Target::Sim.preset(), &end, vec![0; limit + 1]).is_ok());
}

//! The serial datapath's post-processing microcode (`qweave_hw::ucode`) against the machine's
//! own effects: random instructions of every post-processing opcode on random memories, bit
//! for bit, and cycles that no value changes.

use crate::machine::Machine;
use qweave_hw::Target;
use qweave_hw::isa::{Op, Queue, binary, text};
use qweave_hw::ucode::program::{Program, assemble};
use qweave_hw::ucode::run::{self, Memories};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    /// A value of at most `bits` magnitude bits, `bits` itself random up to `max`.
    fn value(&mut self, max: i64) -> i64 {
        let m = self.int(0, max);
        self.int(-(1 << m), (1 << m) - 1)
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.int(0, v.len() as i64 - 1) as usize]
    }
}

fn format(rng: &mut Rng) -> String {
    match rng.int(0, 2) {
        0 => format!("ofmt=signed obits={}", rng.int(2, 32)),
        1 => format!("ofmt=unsigned obits={}", rng.int(1, 31)),
        _ => "ofmt=bipolar obits=1".into(),
    }
}

/// One random post-processing instruction, and what it needs in the memories.
fn instruction(rng: &mut Rng, acc: &mut [i64], par: &mut [i64], lut: &mut [i64]) -> String {
    let (z, y, x) = (rng.int(1, 4), rng.int(1, 3), rng.int(1, 6));
    let n = z * y * x;
    let vm = rng.int(4, 31);
    for v in acc.iter_mut() {
        *v = rng.value(vm);
    }
    for v in par.iter_mut() {
        *v = rng.value(31);
    }
    match rng.int(0, 5) {
        0 => {
            let pstride = [0, 4, 5][rng.int(0, 2) as usize];
            let small = rng.int(0, 1) == 0;
            for c in 0..z as usize {
                let r = 8 + c * pstride as usize;
                par[r] = match rng.int(0, 5) {
                    0 => i64::from(i32::MIN),
                    1 => [-1, 1][rng.int(0, 1) as usize] << rng.int(0, 30),
                    _ if small => rng.value(6),
                    _ => rng.value(31),
                };
                par[r + 1] = if small { rng.int(0, 6) } else { rng.int(0, 63) };
                par[r + 2] = rng.value(31) >> rng.int(0, 31);
                par[r + 3] = rng.int(-200, 200);
            }
            let rounding = qweave_ir::RoundingMode::ALL[rng.int(0, 8) as usize].as_str();
            format!(
                "requant @0 acc=3 z={z} y={y} x={x} par=8 pstride={pstride} rounding={rounding} {}",
                format(rng)
            )
        }
        1 => {
            let (a, b) = (rng.value(31), rng.value(31));
            format!(
                "clamp @0 acc=5 z={z} y={y} x={x} lo={} hi={}",
                a.min(b),
                a.max(b)
            )
        }
        2 => {
            let op = rng.pick(&["add", "mul", "max", "min"]);
            let zp = |rng: &mut Rng| rng.value(31) >> rng.int(0, 31);
            let (dzp, szp, ozp) = (zp(rng), zp(rng), zp(rng));
            let (src, szs, sys, sxs) = match rng.int(0, 2) {
                // the destination itself
                0 => (40, y * x, x, 1),
                // broadcasts and strides
                1 => (200, rng.int(0, 9), rng.int(0, 5), rng.int(0, 2)),
                _ => (300, y * x, x, 1),
            };
            format!(
                "alu @0 op={op} dst=40 src={src} z={z} y={y} x={x} szs={szs} sys={sys} \
                 sxs={sxs} dzp={dzp} szp={szp} ozp={ozp} {}",
                format(rng)
            )
        }
        3 => {
            let entries = rng.int(1, 60);
            let min = rng.value(31).clamp(-(1 << 30), 1 << 30);
            for v in &mut acc[7..7 + n as usize] {
                *v = min + rng.int(0, entries - 1);
            }
            for v in lut.iter_mut() {
                *v = rng.value(31);
            }
            format!("lut @0 acc=7 z={z} y={y} x={x} lut=100 entries={entries} min={min}")
        }
        4 => {
            let count = rng.int(0, 7);
            let pstride = rng.int(0, 9);
            for v in par.iter_mut() {
                *v = rng.value(vm);
            }
            let bias = rng.value(31) >> rng.int(0, 31);
            format!(
                "thresh @0 acc=2 z={z} y={y} x={x} par=20 count={count} pstride={pstride} \
                 bias={bias} {}",
                format(rng)
            )
        }
        _ => {
            let (kh, kw) = (rng.int(1, 3), rng.int(1, 3));
            let (sh, sw, dh, dw) = (rng.int(1, 2), rng.int(1, 2), rng.int(1, 2), rng.int(1, 2));
            let (oh, ow) = (rng.int(1, 4), rng.int(1, 4));
            let (ih, iw) = (
                (oh - 1) * sh + (kh - 1) * dh + 1,
                (ow - 1) * sw + (kw - 1) * dw + 1,
            );
            let (ih, iw) = (ih + rng.int(0, 2), iw + rng.int(0, 2));
            let kind = rng.pick(&["max", "sum"]);
            format!(
                "pool @0 kind={kind} src=0 dst={} c={z} ih={ih} iw={iw} oh={oh} ow={ow} kh={kh} \
                 kw={kw} sh={sh} sw={sw} dh={dh} dw={dw}",
                z * ih * iw
            )
        }
    }
}

fn words(v: &[i64]) -> Vec<u32> {
    v.iter().map(|&v| v as u32).collect()
}

fn micro(
    p: &Program,
    m: &mut run::Machine,
    op: &Op,
    acc_bits: u8,
    acc: &mut [u32],
    par: &[u32],
    lut: &[u32],
) -> u64 {
    let i = qweave_hw::isa::Instr {
        deps: Default::default(),
        layer: 0,
        op: *op,
    };
    let bytes = binary::encode_one(&i).unwrap();
    m.run(
        &p.rom,
        |o| p.entry(o),
        &bytes,
        acc_bits,
        &mut Memories { acc, par, lut },
    )
}

#[test]
fn the_microcode_computes_what_the_isa_says() {
    let hw = Target::Ice40up5k.preset();
    let p = assemble();
    let mut um = run::Machine::new(&p.init);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = [0; 6];
    for case in 0..3000 {
        let mut m = Machine::new(&hw, Vec::new());
        let acc_bits = rng.int(16, 32) as u8;
        let config = text::parse(&format!(
            "config @0 w=8 a=8 wfmt=signed afmt=signed acc_bits={acc_bits} pack=bricks kp=0 \
             np=0 lane=0 wport=a"
        ))
        .unwrap();
        m.execute(&config[0].op, Queue::Compute).unwrap();
        let (acc, par, lut) = m.memories();
        let mut line = instruction(&mut rng, acc, par, lut);
        if let Ok(l) = std::env::var("QW_ULINE") {
            line = l;
        }
        let op = text::parse(&line).unwrap_or_else(|e| panic!("{e}: {line}"))[0].op;
        let (mut uacc, upar, ulut) = {
            let (a, p, l) = m.memories();
            (words(a), words(p), words(l))
        };
        let before = uacc.clone();
        if m.execute(&op, Queue::Compute).is_err() {
            continue;
        }
        checked[usize::from(op.opcode() - 4)] += 1;
        let cycles = micro(&p, &mut um, &op, acc_bits, &mut uacc, &upar, &ulut);
        let want = words(m.memories().0);
        if let Some(k) = (0..want.len()).find(|&k| want[k] != uacc[k]) {
            // QW_UDEBUG=1: the failing run's micro-ops in the message
            let mut trace = String::new();
            if std::env::var_os("QW_UDEBUG").is_some() {
                um.trace = Some(Vec::new());
                let mut again = before.clone();
                micro(&p, &mut um, &op, acc_bits, &mut again, &upar, &ulut);
                trace = um.trace.take().unwrap_or_default().join("\n");
            }
            panic!(
                "case {case}: {line}\nacc[{k}] is {} in microcode, {} in the machine (was {})\n\
                 {trace}",
                uacc[k] as i32, want[k] as i32, before[k] as i32
            );
        }
        // no value changes the cycles
        let mut zeros = vec![0; uacc.len()];
        let (zpar, zlut) = (vec![0; upar.len()], vec![0; ulut.len()]);
        let again = micro(&p, &mut um, &op, acc_bits, &mut zeros, &zpar, &zlut);
        assert_eq!(cycles, again, "case {case}: {line}");
    }
    assert!(checked.iter().all(|&n| n > 100), "{checked:?}");
}

/// Requantizations whose product is a tie, or a tie but for one bit far below it (in the
/// digit below the window's half digit), in each window, every rounding mode and both signs;
/// and the extremes of every operand.
#[test]
fn the_microcode_rounds_ties_and_extremes_exactly() {
    let hw = Target::Ice40up5k.preset();
    let p = assemble();
    let mut um = run::Machine::new(&p.init);
    let mut cases: Vec<(i64, i64, i64, i64, i64)> = Vec::new();
    for (v, mult, shift) in [
        (1, (1 << 16) + 1, 17),
        (1 << 16, (1 << 16) + 1, 33),
        (-(1 << 31), (1 << 17) + 2, 49),
        (3, 1, 1),
        (1 << 30, 1 << 30, 61),
        (5, 3, 63),
    ] {
        for sign in [1, -1] {
            if i32::try_from(sign * v).is_ok() {
                cases.push((sign * v, mult, shift, 0, 0));
            }
        }
    }
    let ext = [i64::from(i32::MIN), i64::from(i32::MAX), -1, 0, 1];
    for &v in &ext {
        for &mult in &ext {
            for shift in [0, 1, 15, 16, 31, 32, 47, 48, 63] {
                for &zp in &[i64::from(i32::MIN), 0, i64::from(i32::MAX)] {
                    cases.push((v, mult, shift, zp, -zp.signum() * 7));
                }
            }
        }
    }
    let mut checked = 0;
    for (v, mult, shift, zin, zout) in cases {
        for rounding in qweave_ir::RoundingMode::ALL {
            for fmt in [
                "ofmt=signed obits=32",
                "ofmt=unsigned obits=32",
                "ofmt=signed obits=8",
            ] {
                let mut m = Machine::new(&hw, Vec::new());
                let (acc, par, _) = m.memories();
                acc[0] = v;
                par[..4].copy_from_slice(&[mult, shift, zin, zout]);
                let line = format!(
                    "requant @0 acc=0 z=1 y=1 x=1 par=0 pstride=0 rounding={} {fmt}",
                    rounding.as_str()
                );
                let op = text::parse(&line).unwrap()[0].op;
                let (mut uacc, upar, ulut) = {
                    let (a, p, l) = m.memories();
                    (words(a), words(p), words(l))
                };
                if m.execute(&op, Queue::Compute).is_err() {
                    continue;
                }
                micro(&p, &mut um, &op, 32, &mut uacc, &upar, &ulut);
                let want = m.memories().0[0] as u32;
                assert_eq!(
                    uacc[0] as i32, want as i32,
                    "{line}: v {v}, mult {mult}, shift {shift}, zero points {zin} {zout}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 15000, "{checked}");
}

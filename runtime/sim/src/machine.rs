//! The machine's state and each instruction's effect on it, exactly as `docs/isa.md` defines
//! them, with every check the page promises (extents, operand widths, DRAM bounds).

use qweave_hw::HwConfig;
use qweave_hw::isa::packing::{self, fits, valid_width};
use qweave_hw::isa::{
    Alu, AluOp, Buf, Clamp, Config, Format, Gemm, Load, Lut, Op, Pack, Pool, PoolKind, Queue,
    Requant, Store, Threshold,
};

/// The mode a queue last configured, with the PE's rate in it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Active {
    pub(crate) config: Config,
    pub(crate) rate: qweave_hw::Rate,
}

/// DRAM, the five memories, and the mode each of the two configured queues holds.
pub(crate) struct Machine<'c> {
    hw: &'c HwConfig,
    pub(crate) dram: Vec<u8>,
    inp: Vec<i64>,
    wgt: Vec<i64>,
    acc: Vec<i64>,
    par: Vec<i64>,
    lut: Vec<i64>,
    pub(crate) compute: Option<Active>,
    loader: Option<Active>,
    /// Whether instructions change the memories (false: only timing is wanted).
    effects: bool,
}

type R = Result<(), String>;

/// `v` saturated to `bits`-bit `fmt` (bipolar: its sign, 0 counting as +1).
fn sat(v: i128, fmt: Format, bits: u8) -> i64 {
    if fmt == Format::Bipolar {
        return if v < 0 { -1 } else { 1 };
    }
    let (lo, hi) = packing::range(fmt, bits);
    v.clamp(i128::from(lo), i128::from(hi)) as i64
}

/// `v` reduced to `bits` in two's complement.
fn wrap(v: i64, bits: u8) -> i64 {
    let s = 64 - u32::from(bits);
    (v << s) >> s
}

fn check_transfer(what: &str, fmt: Format, bits: u8, bit: u8) -> R {
    if bit > 7 {
        return Err(format!("{what}: bit {bit} is not a bit of a byte (0 to 7)"));
    }
    check_width(what, fmt, bits)
}

fn check_width(what: &str, fmt: Format, bits: u8) -> R {
    if valid_width(fmt, bits) {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} values are not {bits} bits wide",
            fmt.name()
        ))
    }
}

/// Checks that `[at, at + n)` lies within a memory of `cap` entries.
fn extent(mem: &str, at: u32, n: u64, cap: usize) -> R {
    if u64::from(at) + n <= cap as u64 {
        Ok(())
    } else {
        Err(format!(
            "{mem} entries {at}..{} are past its {cap} entries",
            u64::from(at) + n
        ))
    }
}

fn n3(z: u16, y: u16, x: u16) -> u64 {
    u64::from(z) * u64::from(y) * u64::from(x)
}

impl<'c> Machine<'c> {
    pub(crate) fn new(hw: &'c HwConfig, dram: Vec<u8>) -> Machine<'c> {
        // `inp` and `wgt` are sized for 1-bit entries, the most any mode holds.
        let entries = |banks: u32, bytes: u32| banks as usize * bytes as usize * 8;
        Machine {
            hw,
            dram,
            inp: vec![0; 2 * entries(hw.rows, hw.input_bank_bytes)],
            wgt: vec![0; entries(hw.cols, hw.weight_bank_bytes)],
            acc: vec![0; hw.cols as usize * hw.acc_entries as usize],
            par: vec![0; hw.post.param_entries as usize],
            lut: vec![0; hw.post.lut_entries as usize],
            compute: None,
            loader: None,
            effects: true,
        }
    }

    /// A machine that keeps only the mode: for timing, which no value affects (so it holds
    /// no memories, which for a large array are tens of megabytes).
    pub(crate) fn timing_only(hw: &'c HwConfig) -> Machine<'c> {
        Machine {
            hw,
            dram: Vec::new(),
            inp: Vec::new(),
            wgt: Vec::new(),
            acc: Vec::new(),
            par: Vec::new(),
            lut: Vec::new(),
            compute: None,
            loader: None,
            effects: false,
        }
    }

    /// The accumulator, parameter and table memories (for the microcode's tests).
    #[cfg(test)]
    pub(crate) fn memories(&mut self) -> (&mut [i64], &mut [i64], &mut [i64]) {
        (&mut self.acc, &mut self.par, &mut self.lut)
    }

    /// Entries of `inp` in activation mode `a`.
    fn inp_cap(&self, a: u8) -> usize {
        self.inp.len() / usize::from(a.max(1))
    }

    /// Entries of `wgt` in weight mode `w`.
    fn wgt_cap(&self, w: u8) -> usize {
        self.wgt.len() / usize::from(w.max(1))
    }

    /// Runs one instruction on `queue` (`config` runs on two).
    pub(crate) fn execute(&mut self, op: &Op, queue: Queue) -> R {
        if !self.effects && !matches!(op, Op::Config(_)) {
            return Ok(());
        }
        match op {
            Op::Config(c) => self.config(c, queue),
            Op::Load(l) => self.load(l),
            Op::Gemm(g) => self.gemm(g),
            Op::Requant(r) => self.requant(r),
            Op::Clamp(c) => self.clamp(c),
            Op::Alu(a) => self.alu(a),
            Op::Lut(l) => self.table(l),
            Op::Threshold(t) => self.threshold(t),
            Op::Pool(p) => self.pool(p),
            Op::Store(s) => self.store(s),
            Op::End | Op::Sync(_) => Ok(()),
        }
    }

    fn config(&mut self, c: &Config, queue: Queue) -> R {
        let rate = qweave_hw::pe::rate(self.hw, c)?;
        if c.acc_bits == 0 || c.acc_bits > self.hw.acc_bits {
            return Err(format!(
                "acc_bits={} but the accumulators are {} bits",
                c.acc_bits, self.hw.acc_bits
            ));
        }
        let active = Some(Active { config: *c, rate });
        // a serial datapath runs `config` once, for its loads and its array alike
        if queue == Queue::Load || self.hw.serial {
            self.loader = active;
        }
        if queue != Queue::Load {
            self.compute = active;
        }
        Ok(())
    }

    /// The accumulator memory's check on a value written to it.
    fn acc_fits(&self, v: i64) -> R {
        if fits(v, Format::Signed, self.hw.acc_bits) {
            Ok(())
        } else {
            Err(format!(
                "{v} does not fit the {}-bit accumulators",
                self.hw.acc_bits
            ))
        }
    }

    fn load(&mut self, l: &Load) -> R {
        check_transfer("load", l.fmt, l.bits, l.bit)?;
        let base = packing::bit_address(l.dram, l.bit);
        let (ys, xs) = (
            usize::from(l.y) + usize::from(l.pad_top) + usize::from(l.pad_bottom),
            usize::from(l.x) + usize::from(l.pad_left) + usize::from(l.pad_right),
        );
        let n = usize::from(l.z) * ys * xs;
        // what each written value must fit (a range; bipolar without 0), and the memory's size
        let (lo, hi, bipolar, cap) = match l.buf {
            Buf::Inp | Buf::Wgt => {
                let c = self
                    .loader
                    .ok_or("a load into inp or wgt before any config")?
                    .config;
                let (fmt, bits, cap) = if l.buf == Buf::Inp {
                    (c.afmt, c.a, self.inp_cap(c.a))
                } else {
                    (c.wfmt, c.w, self.wgt_cap(c.w))
                };
                let (lo, hi) = packing::range(fmt, bits);
                (lo, hi, fmt == Format::Bipolar, cap)
            }
            Buf::Acc => {
                let (lo, hi) = packing::range(Format::Signed, self.hw.acc_bits);
                (lo, hi, false, self.acc.len())
            }
            // (a serial datapath's parameter memory holds 32-bit words)
            Buf::Par if self.hw.serial => (
                i64::from(i32::MIN),
                i64::from(i32::MAX),
                false,
                self.par.len(),
            ),
            Buf::Par => (i64::MIN, i64::MAX, false, self.par.len()),
            Buf::Lut => (
                i64::from(i32::MIN),
                i64::from(i32::MAX),
                false,
                self.lut.len(),
            ),
        };
        let check = |v: i64| (lo..=hi).contains(&v) && !(bipolar && v == 0);
        extent(l.buf.name(), l.sram, n as u64, cap)?;
        let mut values = Vec::with_capacity(n);
        for p in 0..u64::from(l.z) {
            for r in 0..ys {
                for q in 0..xs {
                    let inside = (usize::from(l.pad_top)
                        ..usize::from(l.pad_top) + usize::from(l.y))
                        .contains(&r)
                        && (usize::from(l.pad_left)..usize::from(l.pad_left) + usize::from(l.x))
                            .contains(&q);
                    let v = if inside {
                        let e = p * u64::from(l.zs)
                            + (r - usize::from(l.pad_top)) as u64 * u64::from(l.ys)
                            + (q - usize::from(l.pad_left)) as u64 * u64::from(l.xs);
                        let raw =
                            packing::read(&self.dram, base, e, l.bits, l.fmt).ok_or_else(|| {
                                format!(
                                    "reads DRAM byte {}, past its {} bytes",
                                    packing::end_byte(base, e, l.bits) - 1,
                                    self.dram.len()
                                )
                            })?;
                        i64::try_from(i128::from(raw) - i128::from(l.offset))
                            .map_err(|_| "the offset value overflows 64 bits".to_string())?
                    } else {
                        l.fill
                    };
                    if !check(v) {
                        let words = if self.hw.serial && l.buf == Buf::Par {
                            " (the serial datapath's parameter words are 32 bits)"
                        } else {
                            ""
                        };
                        return Err(format!(
                            "value {v} (plane {p}, row {r}, column {q}) does not fit {}{words}",
                            l.buf.name()
                        ));
                    }
                    values.push(v);
                }
            }
        }
        let mem = match l.buf {
            Buf::Inp => &mut self.inp,
            Buf::Wgt => &mut self.wgt,
            Buf::Acc => &mut self.acc,
            Buf::Par => &mut self.par,
            Buf::Lut => &mut self.lut,
        };
        mem[l.sram as usize..l.sram as usize + n].copy_from_slice(&values);
        Ok(())
    }

    fn gemm(&mut self, g: &Gemm) -> R {
        let a = self.compute.ok_or("gemm before any config")?.config;
        if [g.kh, g.kw, g.sh, g.sw, g.dh, g.dw].contains(&0) {
            return Err("kernel, stride and dilation must be at least 1".into());
        }
        // a filter-packed window reads inputs `(x0 + tap) * sw`, each tap's input only when
        // the row's stride is its dilation
        if a.pack == Pack::Filter && g.kw > 1 && g.sw != g.dw {
            return Err(format!(
                "filter packing needs the row's stride and dilation equal, found sw={} dw={}",
                g.sw, g.dw
            ));
        }
        let window = |o: u16, s: u8, k: u8, d: u8| {
            (u64::from(o.max(1)) - 1) * u64::from(s) + (u64::from(k) - 1) * u64::from(d)
        };
        if window(g.oh, g.sh, g.kh, g.dh) >= u64::from(g.ih)
            || window(g.ow, g.sw, g.kw, g.dw) >= u64::from(g.iw)
        {
            return Err(format!(
                "{}x{} outputs of a {}x{} kernel do not fit the {}x{} tile",
                g.oh, g.ow, g.kh, g.kw, g.ih, g.iw
            ));
        }
        let (groups, cin, m) = (u64::from(g.groups), u64::from(g.cin), u64::from(g.m));
        let k = u64::from(g.kh) * u64::from(g.kw);
        extent(
            "inp",
            g.inp,
            groups * cin * n3(1, g.ih, g.iw),
            self.inp_cap(a.a),
        )?;
        extent("wgt", g.wgt, groups * m * cin * k, self.wgt_cap(a.w))?;
        extent("acc", g.acc, groups * m * n3(1, g.oh, g.ow), self.acc.len())?;
        let (ih, iw, oh, ow) = (
            usize::from(g.ih),
            usize::from(g.iw),
            usize::from(g.oh),
            usize::from(g.ow),
        );
        let (kh, kw) = (usize::from(g.kh), usize::from(g.kw));
        let (sh, sw, dh, dw) = (
            usize::from(g.sh),
            usize::from(g.sw),
            usize::from(g.dh),
            usize::from(g.dw),
        );
        let (cin, m) = (cin as usize, m as usize);
        let plane = ih * iw;
        // weight-stationary order: each weight scales a strided run of inputs into a row of
        // sums, which the compiler vectorizes (the sums are exact integers either way)
        let mut sums = vec![0i64; oh * ow];
        for grp in 0..usize::from(g.groups) {
            let inp = &self.inp[g.inp as usize + grp * cin * plane..][..cin * plane];
            for o in 0..m {
                let f = grp * m + o;
                let wgt = &self.wgt[g.wgt as usize + f * cin * kh * kw..][..cin * kh * kw];
                sums.fill(0);
                for c in 0..cin {
                    let x = &inp[c * plane..][..plane];
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let wv = wgt[(c * kh + ky) * kw + kx];
                            if wv == 0 {
                                continue;
                            }
                            for i in 0..oh {
                                let row = &x[(i * sh + ky * dh) * iw + kx * dw..];
                                let dst = &mut sums[i * ow..][..ow];
                                if sw == 1 {
                                    for (d, &xv) in dst.iter_mut().zip(&row[..ow]) {
                                        *d = d.wrapping_add(xv.wrapping_mul(wv));
                                    }
                                } else {
                                    for (j, d) in dst.iter_mut().enumerate() {
                                        *d = d.wrapping_add(row[j * sw].wrapping_mul(wv));
                                    }
                                }
                            }
                        }
                    }
                }
                let out = &mut self.acc[g.acc as usize + f * oh * ow..][..oh * ow];
                for (cell, &s) in out.iter_mut().zip(&sums) {
                    let base = if g.reset { 0 } else { *cell };
                    *cell = wrap(base.wrapping_add(s), a.acc_bits);
                }
            }
        }
        Ok(())
    }

    /// The accumulators `[at, at + n)` after checking they exist.
    fn acc_block(&mut self, at: u32, n: u64) -> Result<&mut [i64], String> {
        extent("acc", at, n, self.acc.len())?;
        Ok(&mut self.acc[at as usize..at as usize + n as usize])
    }

    fn requant(&mut self, r: &Requant) -> R {
        check_width("requant", r.ofmt, r.obits)?;
        let per = n3(1, r.y, r.x) as usize;
        let last = u64::from(r.par) + u64::from(r.z.max(1) - 1) * u64::from(r.pstride) + 4;
        if last > self.par.len() as u64 {
            return Err(format!(
                "parameter records up to {last} are past par's {} entries",
                self.par.len()
            ));
        }
        let records: Vec<[i64; 4]> = (0..usize::from(r.z))
            .map(|c| {
                let at = r.par as usize + c * usize::from(r.pstride);
                [
                    self.par[at],
                    self.par[at + 1],
                    self.par[at + 2],
                    self.par[at + 3],
                ]
            })
            .collect();
        let hw_bits = self.hw.acc_bits;
        let block = self.acc_block(r.acc, n3(r.z, r.y, r.x))?;
        for (c, [mult, shift, zp_in, zp_out]) in records.into_iter().enumerate() {
            if i32::try_from(mult).is_err() || !(0..=63).contains(&shift) {
                return Err(format!(
                    "channel {c}: multiplier {mult} and shift {shift} must fit i32 and 0..=63"
                ));
            }
            for v in &mut block[c * per..][..per] {
                let scaled = r.rounding.shift(
                    (i128::from(*v) - i128::from(zp_in)) * i128::from(mult),
                    shift as u32,
                );
                let q = sat(scaled + i128::from(zp_out), r.ofmt, r.obits);
                if !fits(q, Format::Signed, hw_bits) {
                    return Err(format!("{q} does not fit the {hw_bits}-bit accumulators"));
                }
                *v = q;
            }
        }
        Ok(())
    }

    fn clamp(&mut self, c: &Clamp) -> R {
        if c.lo > c.hi {
            return Err(format!("lo {} above hi {}", c.lo, c.hi));
        }
        for v in self.acc_block(c.acc, n3(c.z, c.y, c.x))? {
            *v = (*v).clamp(c.lo, c.hi);
        }
        Ok(())
    }

    fn alu(&mut self, a: &Alu) -> R {
        check_width("alu", a.ofmt, a.obits)?;
        let (z, y, x) = (u64::from(a.z), u64::from(a.y), u64::from(a.x));
        let n = z * y * x;
        extent("acc", a.dst, n, self.acc.len())?;
        if n > 0 {
            let far = (z - 1) * u64::from(a.szs)
                + (y - 1) * u64::from(a.sys)
                + (x - 1) * u64::from(a.sxs);
            extent("acc", a.src, far + 1, self.acc.len())?;
            // the hardware reads a chunk of operands before it writes their results, so the
            // right operand may be the destination itself, element for element, but must not
            // overlap it otherwise
            let same = a.src == a.dst
                && (x == 1 || a.sxs == 1)
                && (y == 1 || u64::from(a.sys) == x)
                && (z == 1 || u64::from(a.szs) == y * x);
            let (s0, d0) = (u64::from(a.src), u64::from(a.dst));
            if !same && s0 < d0 + n && d0 < s0 + far + 1 {
                return Err("the right operand overlaps the destination".into());
            }
        }
        let mut k = a.dst as usize;
        for c in 0..z {
            for i in 0..y {
                for j in 0..x {
                    let s = self.acc[(u64::from(a.src)
                        + c * u64::from(a.szs)
                        + i * u64::from(a.sys)
                        + j * u64::from(a.sxs)) as usize];
                    let (l, r) = (
                        i128::from(self.acc[k]) - i128::from(a.dzp),
                        i128::from(s) - i128::from(a.szp),
                    );
                    let v = match a.op {
                        AluOp::Add => l + r,
                        AluOp::Mul => l * r,
                        AluOp::Max => l.max(r),
                        AluOp::Min => l.min(r),
                    };
                    let q = sat(v + i128::from(a.ozp), a.ofmt, a.obits);
                    self.acc_fits(q)?;
                    self.acc[k] = q;
                    k += 1;
                }
            }
        }
        Ok(())
    }

    fn table(&mut self, l: &Lut) -> R {
        extent("lut", l.lut, u64::from(l.entries), self.lut.len())?;
        let table = self.lut[l.lut as usize..][..l.entries as usize].to_vec();
        let hw_bits = self.hw.acc_bits;
        for v in self.acc_block(l.acc, n3(l.z, l.y, l.x))? {
            let i = i128::from(*v) - i128::from(l.min);
            let t = usize::try_from(i)
                .ok()
                .and_then(|i| table.get(i))
                .ok_or_else(|| format!("{v} indexes outside the {}-entry table", l.entries))?;
            if !fits(*t, Format::Signed, hw_bits) {
                return Err(format!("table value {t} does not fit the accumulators"));
            }
            *v = *t;
        }
        Ok(())
    }

    fn threshold(&mut self, t: &Threshold) -> R {
        check_width("thresh", t.ofmt, t.obits)?;
        let count = usize::from(t.count);
        let last =
            u64::from(t.par) + u64::from(t.z.max(1) - 1) * u64::from(t.pstride) + count as u64;
        if last > self.par.len() as u64 {
            return Err(format!(
                "thresholds up to {last} are past par's {} entries",
                self.par.len()
            ));
        }
        let per = n3(1, t.y, t.x) as usize;
        let thresholds: Vec<Vec<i64>> = (0..usize::from(t.z))
            .map(|c| {
                let at = t.par as usize + c * t.pstride as usize;
                self.par[at..at + count].to_vec()
            })
            .collect();
        let block = self.acc_block(t.acc, n3(t.z, t.y, t.x))?;
        for (c, th) in thresholds.iter().enumerate() {
            for v in &mut block[c * per..][..per] {
                let n = th.iter().filter(|&&h| h <= *v).count();
                *v = sat(i128::from(t.bias) + n as i128, t.ofmt, t.obits);
            }
        }
        Ok(())
    }

    fn pool(&mut self, p: &Pool) -> R {
        if [p.kh, p.kw, p.sh, p.sw, p.dh, p.dw].contains(&0) {
            return Err("window, stride and dilation must be at least 1".into());
        }
        let acc_bits = match p.kind {
            PoolKind::Sum => {
                self.compute
                    .ok_or("sum pooling before any config")?
                    .config
                    .acc_bits
            }
            PoolKind::Max => self.hw.acc_bits,
        };
        let (c, ih, iw, oh, ow) = (
            usize::from(p.c),
            usize::from(p.ih),
            usize::from(p.iw),
            usize::from(p.oh),
            usize::from(p.ow),
        );
        let reach = |o: usize, s: u8, k: u8, d: u8| {
            (o.max(1) - 1) * usize::from(s) + (usize::from(k) - 1) * usize::from(d)
        };
        if reach(oh, p.sh, p.kh, p.dh) >= ih || reach(ow, p.sw, p.kw, p.dw) >= iw {
            return Err(format!(
                "{oh}x{ow} windows of {}x{} do not fit {ih}x{iw} planes",
                p.kh, p.kw
            ));
        }
        let (src, dst) = (p.src as usize, p.dst as usize);
        extent("acc", p.src, (c * ih * iw) as u64, self.acc.len())?;
        extent("acc", p.dst, (c * oh * ow) as u64, self.acc.len())?;
        if src < dst + c * oh * ow && dst < src + c * ih * iw {
            return Err("source and destination overlap".into());
        }
        for ch in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut r: Option<i64> = None;
                    for ky in 0..usize::from(p.kh) {
                        for kx in 0..usize::from(p.kw) {
                            let v = self.acc[src
                                + (ch * ih + i * usize::from(p.sh) + ky * usize::from(p.dh)) * iw
                                + j * usize::from(p.sw)
                                + kx * usize::from(p.dw)];
                            r = Some(match (r, p.kind) {
                                (None, _) => v,
                                (Some(a), PoolKind::Max) => a.max(v),
                                (Some(a), PoolKind::Sum) => a.wrapping_add(v),
                            });
                        }
                    }
                    self.acc[dst + (ch * oh + i) * ow + j] = wrap(r.unwrap_or(0), acc_bits);
                }
            }
        }
        Ok(())
    }

    fn store(&mut self, s: &Store) -> R {
        check_transfer("store", s.fmt, s.bits, s.bit)?;
        let base = packing::bit_address(s.dram, s.bit);
        extent("acc", s.sram, n3(s.z, s.y, s.x), self.acc.len())?;
        let mut k = s.sram as usize;
        for p in 0..u64::from(s.z) {
            for r in 0..u64::from(s.y) {
                for q in 0..u64::from(s.x) {
                    let e = p * u64::from(s.zs) + r * u64::from(s.ys) + q * u64::from(s.xs);
                    packing::write(&mut self.dram, base, e, s.bits, s.fmt, self.acc[k])
                        .map_err(|m| format!("value {e} of the region: {m}"))?;
                    k += 1;
                }
            }
        }
        Ok(())
    }
}

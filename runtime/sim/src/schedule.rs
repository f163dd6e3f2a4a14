//! The controller: three in-order queues, four token FIFOs and one DRAM port. Instructions
//! run in order of their start cycles; each one's effect is applied as it starts, and
//! overlapping instructions of different queues are checked for races.

use crate::footprint::{self, Access};
use crate::machine::Machine;
use crate::{LayerStats, Run, SimError};
use qweave_hw::HwConfig;
use qweave_hw::cycles::{self, CONFIG_ON_LOAD_QUEUE};
use qweave_hw::isa::{Instr, Op, Queue};
use std::collections::{BTreeMap, VecDeque};

/// The index of a queue in `Queue::ALL`.
fn qi(q: Queue) -> usize {
    match q {
        Queue::Load => 0,
        Queue::Compute => 1,
        Queue::Store => 2,
    }
}

/// An instruction that has started: its queue, index, finish time and what it touches.
struct Running {
    queue: Queue,
    index: usize,
    end: u64,
    accesses: Vec<Access>,
}

/// Runs `program` on `machine`.
pub(crate) fn run(hw: &HwConfig, program: &[Instr], mut m: Machine<'_>) -> Result<Run, SimError> {
    let err = |index: usize, message: String| SimError::At {
        index,
        op: program[index].op.mnemonic(),
        layer: program[index].layer,
        message,
    };
    match program.iter().position(|i| matches!(i.op, Op::End)) {
        Some(e) if e + 1 == program.len() => {}
        Some(e) => return Err(err(e, "end must be the last instruction".into())),
        None => return Err(SimError::NoEnd),
    }
    // the instruction lists of the three queues; `config` is on two
    let mut lists: [Vec<usize>; 3] = Default::default();
    for (k, i) in program.iter().enumerate() {
        if matches!(i.op, Op::Config(_)) {
            lists[qi(Queue::Load)].push(k);
        }
        lists[qi(i.op.queue())].push(k);
    }
    let mut next = [0usize; 3];
    let mut free_at = [0u64; 3];
    // tokens[from][to]: the cycles tokens were pushed at
    let mut tokens: [[VecDeque<u64>; 3]; 3] = Default::default();
    let mut dram_free = 0u64;
    let mut running: Vec<Running> = Vec::new();
    let mut run = Run {
        cycles: 0,
        macs: 0,
        dram_bytes: 0,
        instructions: program.len(),
        layers: BTreeMap::new(),
        dram: Vec::new(),
    };
    loop {
        // the queue whose head can start first (ties: program order)
        let mut best: Option<(u64, usize, Queue)> = None;
        for q in Queue::ALL {
            let Some(&k) = lists[qi(q)].get(next[qi(q)]) else {
                continue;
            };
            let i = &program[k];
            let on_load = q == Queue::Load && matches!(i.op, Op::Config(_));
            let mut start = free_at[qi(q)];
            let mut ready = true;
            for (pop, from) in [(i.deps.pop_prev, q.prev()), (i.deps.pop_next, q.next())] {
                if let (true, Some(from)) = (pop && !on_load, from) {
                    match tokens[qi(from)][qi(q)].front() {
                        Some(&t) => start = start.max(t),
                        None => ready = false,
                    }
                }
            }
            if transfers(&i.op) {
                start = start.max(dram_free);
            }
            if ready && best.is_none_or(|(s, bk, _)| (start, k) < (s, bk)) {
                best = Some((start, k, q));
            }
        }
        let Some((start, k, q)) = best else {
            if let Some(q) = Queue::ALL
                .iter()
                .find(|q| next[qi(**q)] < lists[qi(**q)].len())
            {
                let k = lists[qi(*q)][next[qi(*q)]];
                return Err(SimError::Deadlock {
                    index: k,
                    op: program[k].op.mnemonic(),
                    queue: q.name(),
                });
            }
            break;
        };
        let i = &program[k];
        let on_load = q == Queue::Load && matches!(i.op, Op::Config(_));
        if !on_load {
            for (pop, from) in [(i.deps.pop_prev, q.prev()), (i.deps.pop_next, q.next())] {
                if let (true, Some(from)) = (pop, from) {
                    tokens[qi(from)][qi(q)].pop_front();
                }
            }
        }
        let rate = m.compute.map_or(1, |a| a.macs_per_pe);
        let cost = if on_load {
            cycles::Cost {
                cycles: CONFIG_ON_LOAD_QUEUE,
                ..cycles::Cost::default()
            }
        } else {
            cycles::cost(hw, rate, &i.op)
        };
        let end = start + cost.cycles;
        // races with instructions of other queues still running
        running.retain(|r| r.end > start);
        let accesses = footprint::of(&i.op);
        for r in running.iter().filter(|r| r.queue != q) {
            if let Some((a, _)) = accesses
                .iter()
                .flat_map(|a| r.accesses.iter().map(move |b| (a, b)))
                .find(|(a, b)| a.conflicts(b))
            {
                return Err(SimError::Race {
                    first: r.index,
                    first_op: program[r.index].op.mnemonic(),
                    second: k,
                    second_op: i.op.mnemonic(),
                    mem: a.mem.name(),
                });
            }
        }
        m.execute(&i.op, q).map_err(|message| err(k, message))?;
        running.push(Running {
            queue: q,
            index: k,
            end,
            accesses,
        });
        free_at[qi(q)] = end;
        if transfers(&i.op) {
            dram_free = end;
        }
        if !on_load {
            for (push, to) in [(i.deps.push_prev, q.prev()), (i.deps.push_next, q.next())] {
                if let (true, Some(to)) = (push, to) {
                    tokens[qi(q)][qi(to)].push_back(end);
                }
            }
        }
        next[qi(q)] += 1;
        run.cycles = run.cycles.max(end);
        run.macs += cost.macs;
        run.dram_bytes += cost.dram_bytes;
        let l = run.layers.entry(i.layer).or_insert(LayerStats {
            start,
            ..LayerStats::default()
        });
        l.start = l.start.min(start);
        l.end = l.end.max(end);
        l.busy[qi(q)] += cost.cycles;
        l.macs += cost.macs;
        l.dram_bytes += cost.dram_bytes;
    }
    run.dram = m.dram;
    Ok(run)
}

/// Whether `op` uses the DRAM port.
fn transfers(op: &Op) -> bool {
    matches!(op, Op::Load(_) | Op::Store(_))
}

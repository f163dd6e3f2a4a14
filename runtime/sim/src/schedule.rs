//! The controller: three in-order queues, four token FIFOs and one DRAM port. Instructions
//! run in order of their start cycles and each one's effect is applied as it starts. Vector
//! clocks carried by the tokens tell which instructions of other queues an instruction is
//! ordered after; touching the same data as one it is not ordered after is a race, whatever
//! the timing happened to be.

use crate::footprint::{self, Access};
use crate::machine::Machine;
use crate::{LayerStats, Run, SimError};
use qweave_hw::HwConfig;
use qweave_hw::cycles::{self, CONFIG_ON_LOAD_QUEUE, QUEUE_GAP, TOKEN_LATENCY};
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

/// How many instructions of each queue an instruction is ordered after (itself included).
type Clock = [u64; 3];

/// An instruction that ran: its place in its queue, its index and what it touched.
struct Done {
    seq: u64,
    index: usize,
    accesses: Vec<Access>,
}

/// A token: when it was pushed and the pusher's clock.
type Token = (u64, Clock);

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
    // (a serial datapath runs `config` once)
    let mut lists: [Vec<usize>; 3] = Default::default();
    for (k, i) in program.iter().enumerate() {
        if matches!(i.op, Op::Config(_)) && !hw.serial {
            lists[qi(Queue::Load)].push(k);
        }
        lists[qi(i.op.queue())].push(k);
    }
    // a serial datapath's next instruction starts after the one before it
    let mut serial_free = 0u64;
    let mut next = [0usize; 3];
    let mut free_at = [0u64; 3];
    // tokens[from][to]
    let mut tokens: [[VecDeque<Token>; 3]; 3] = Default::default();
    let mut clocks: [Clock; 3] = [[0; 3]; 3];
    // per queue, the instructions some other queue is not yet ordered after
    let mut history: [Vec<Done>; 3] = Default::default();
    let mut dram_free = 0u64;
    let mut run = Run {
        cycles: 0,
        macs: 0,
        dram_bytes: 0,
        instructions: program.len(),
        layers: BTreeMap::new(),
        dram: Vec::new(),
        times: vec![(0, 0); program.len()],
    };
    loop {
        // the queue whose head can start first (ties: program order); on a serial datapath,
        // the next instruction in program order
        let mut best: Option<(u64, usize, Queue)> = None;
        let mut serial_waits = false;
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
                        Some(&(t, _)) => start = start.max(t),
                        None => ready = false,
                    }
                }
            }
            if transfers(&i.op) {
                start = start.max(dram_free);
            }
            if hw.serial {
                // program order: the next instruction's tokens must be there already; it is
                // fetched once the one before has finished
                start = start.max(serial_free + qweave_hw::serial::fetch(&i.op));
                if best.is_none_or(|(_, bk, _)| k < bk) {
                    best = Some((start, k, q));
                    serial_waits = !ready;
                }
                continue;
            }
            if ready && best.is_none_or(|(s, bk, _)| (start, k) < (s, bk)) {
                best = Some((start, k, q));
            }
        }
        if let (true, Some((_, k, q))) = (serial_waits, best) {
            return Err(err(
                k,
                format!(
                    "the serial datapath runs instructions in program order, but this one \
                     pops a token no earlier instruction pushed to the {} queue",
                    q.name()
                ),
            ));
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
        let mut clock = clocks[qi(q)];
        if !on_load {
            for (pop, from) in [(i.deps.pop_prev, q.prev()), (i.deps.pop_next, q.next())] {
                if let (true, Some(from)) = (pop, from)
                    && let Some((_, c)) = tokens[qi(from)][qi(q)].pop_front()
                {
                    for (mine, theirs) in clock.iter_mut().zip(c) {
                        *mine = (*mine).max(theirs);
                    }
                }
            }
        }
        clock[qi(q)] += 1;
        clocks[qi(q)] = clock;
        let rate = m.compute.map_or(qweave_hw::Rate::bricks(1), |a| a.rate);
        let cost = if on_load {
            cycles::Cost {
                cycles: CONFIG_ON_LOAD_QUEUE,
                ..cycles::Cost::default()
            }
        } else {
            cycles::cost(hw, rate, &i.op)
        };
        let end = start + cost.cycles;
        // races with instructions of other queues this one is not ordered after
        let accesses = footprint::of(&i.op);
        for r in Queue::ALL.into_iter().filter(|&r| r != q) {
            let unordered = history[qi(r)].iter().filter(|d| d.seq > clock[qi(r)]);
            for d in unordered {
                let hit = accesses
                    .iter()
                    .find(|a| d.accesses.iter().any(|b| a.conflicts(b)));
                if let Some(a) = hit {
                    return Err(SimError::Race {
                        first: d.index,
                        first_op: program[d.index].op.mnemonic(),
                        second: k,
                        second_op: i.op.mnemonic(),
                        mem: a.mem.name(),
                    });
                }
            }
        }
        if hw.serial {
            qweave_hw::serial::check(&i.op).map_err(|message| err(k, message))?;
        }
        m.execute(&i.op, q).map_err(|message| err(k, message))?;
        if !accesses.is_empty() {
            history[qi(q)].push(Done {
                seq: clock[qi(q)],
                index: k,
                accesses,
            });
        }
        // forget what every other queue is ordered after
        for r in Queue::ALL {
            let known = Queue::ALL
                .into_iter()
                .filter(|&o| o != r)
                .map(|o| clocks[qi(o)][qi(r)])
                .min()
                .unwrap_or(0);
            history[qi(r)].retain(|d| d.seq > known);
        }
        free_at[qi(q)] = end + QUEUE_GAP;
        serial_free = end + QUEUE_GAP;
        if transfers(&i.op) {
            dram_free = end;
        }
        if !on_load {
            for (push, to) in [(i.deps.push_prev, q.prev()), (i.deps.push_next, q.next())] {
                if let (true, Some(to)) = (push, to) {
                    tokens[qi(q)][qi(to)].push_back((end + TOKEN_LATENCY, clock));
                }
            }
        }
        next[qi(q)] += 1;
        if !on_load {
            run.times[k] = (start, end);
        }
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

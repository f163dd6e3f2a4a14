//! The host's side of a run on the board shell over a byte stream: a real board's serial
//! port, or the virtual board's pseudo-terminal ([`super::board::BoardEngine::serve`]). The
//! same exchanges as the board engine's ([`super::board::steps`]), one at a time, each
//! reply awaited before the next command.

use super::board::{MEMORY_BYTES, Step, check_answer, results, steps};
use qweave_hw::isa::Instr;
use std::io::{self, ErrorKind, Read, Write};
use std::time::Duration;

/// A serial line to a board whose reads wait at most a time that can change: briefly while
/// [`sync`] listens, long while a run's reply is awaited.
pub trait Line: Read + Write {
    fn set_wait(&mut self, wait: Duration) -> io::Result<()>;
}

/// How long [`sync`] listens for a reply to a block of zeros before sending the next.
const LISTEN: Duration = Duration::from_millis(20);

/// How long [`sync`] waits for the answer to its probe, and how often it sends one.
const PROBE_WAIT: Duration = Duration::from_secs(1);
const PROBES: usize = 10;

/// A write of no words: the shell answers `K` at once, whatever its address.
const PROBE: [u8; 7] = [b'W', 0, 0, 0, 0, 0, 0];

/// Brings the board's shell to its idle state, whatever a host stopped in the middle of a
/// command left it in, then leaves reads and writes waiting `wait`.
///
/// A shell waiting for a command's header or data takes zero bytes as its rest (a write's
/// data is at most the board's memory) and answers `K`; at its idle state it answers a zero
/// with `?`, an unknown command (a byte that comes while it still sends an answer is lost).
/// So zeros go out in growing blocks until an answer comes; then a probe, a write of no
/// words, until its `K` comes (the `?`s of zeros still on the line are skipped, and a probe
/// lost behind them is sent again); then the line is drained. The zeros a write takes only
/// change memory that a run loads anew.
pub fn sync<L: Line>(line: &mut L, wait: Duration) -> Result<(), String> {
    let io = |e: io::Error| match e.kind() {
        ErrorKind::TimedOut => "bringing the board to its idle state: the line took no more \
                                bytes and gave no answer (is the board connected, and the \
                                bundle's bitstream on it?)"
            .to_string(),
        _ => format!("bringing the board to its idle state: {e}"),
    };
    line.set_wait(LISTEN).map_err(io)?;
    drain(line).map_err(io)?;
    let limit = MEMORY_BYTES + 4096;
    let (mut sent, mut block) = (0, 64);
    loop {
        if sent > limit {
            return Err(format!(
                "bringing the board to its idle state: {sent} bytes sent and no answer (is the \
                 bundle's bitstream on it? configure it again)"
            ));
        }
        // writes wait as long as the caller's, reads only `LISTEN`
        line.set_wait(wait).map_err(io)?;
        send(line, &vec![0; block]).map_err(|(_, e)| io(e))?;
        sent += block;
        line.set_wait(LISTEN).map_err(io)?;
        if drain(line).map_err(io)? > 0 {
            break;
        }
        block = (block * 2).min(4096);
    }
    let mut other = None;
    for _ in 0..PROBES {
        line.set_wait(wait).map_err(io)?;
        send(line, &PROBE).map_err(|(_, e)| io(e))?;
        line.set_wait(PROBE_WAIT).map_err(io)?;
        let mut byte = [0u8; 1];
        loop {
            match line.read(&mut byte) {
                Ok(1) if byte[0] == b'K' => {
                    // whatever else is on its way (nothing, unless a probe was slow)
                    line.set_wait(LISTEN).map_err(io)?;
                    drain(line).map_err(io)?;
                    return line.set_wait(wait).map_err(io);
                }
                Ok(1) if byte[0] == b'?' => {}
                Ok(1) => other = Some(byte[0]),
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                    break;
                }
                Err(e) => return Err(io(e)),
            }
        }
    }
    Err(format!(
        "bringing the board to its idle state: {PROBES} writes of no words got no 'K'{}",
        other.map_or(String::new(), |b| format!(" (it answered {:?})", b as char))
    ))
}

/// Reads until the line is silent for its wait; returns how many bytes came.
fn drain<L: Line>(line: &mut L) -> io::Result<usize> {
    let mut buf = [0u8; 4096];
    let mut got = 0;
    loop {
        match line.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                return Ok(got);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `bytes`, waiting for room as the line's writes do; an error comes with how
/// many were sent.
fn send<L: Write>(line: &mut L, bytes: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut sent = 0;
    while sent < bytes.len() {
        match line.write(&bytes[sent..]) {
            Ok(0) => {
                return Err((
                    sent,
                    io::Error::new(ErrorKind::WriteZero, "the line closed"),
                ));
            }
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(e) => return Err((sent, e)),
        }
    }
    line.flush().map_err(|e| (sent, e))
}

/// What a run on a board left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRun {
    /// DRAM afterwards, as read back.
    pub dram: Vec<u8>,
    /// The accelerator's cycles, as the board counted them.
    pub cycles: u64,
}

/// Loads `dram` and `program` into the board on `line`, runs it, and reads DRAM back. A
/// read that times out (the line's own timeout: a serial port's) or a reply that is not the
/// protocol's is an error naming the step.
pub fn run<L: Read + Write>(
    line: &mut L,
    program: &[Instr],
    dram: &[u8],
) -> Result<DeviceRun, String> {
    let steps = steps(program, dram)?;
    let mut answers = Vec::with_capacity(steps.len());
    for step in &steps {
        let answer = exchange(line, step)?;
        check_answer(step, &answer)?;
        answers.push(answer);
    }
    let answers: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
    let (dram, cycles) = results(&steps, &answers, dram.len())?;
    Ok(DeviceRun { dram, cycles })
}

/// Sends `step`'s command and reads its reply: all of it, or what came before the line fell
/// silent.
fn exchange<L: Read + Write>(line: &mut L, step: &Step) -> Result<Vec<u8>, String> {
    send(line, &step.send).map_err(|(sent, e)| match e.kind() {
        ErrorKind::WriteZero => format!("{}: the line to the board closed", step.what),
        ErrorKind::TimedOut => format!(
            "{}: the line to the board took no more bytes ({sent} of {} sent): is anything \
             reading it?",
            step.what,
            step.send.len()
        ),
        _ => format!("{}: writing to the board: {e}", step.what),
    })?;
    let mut reply = vec![0u8; step.reply];
    let mut got = 0;
    while got < step.reply {
        match line.read(&mut reply[got..]) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                // an unknown command's '?' is the whole answer
                if reply[0] == b'?' {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                if got == 0 {
                    return Err(format!(
                        "{}: the board did not answer (is the bundle's bitstream on it?)",
                        step.what
                    ));
                }
                break;
            }
            Err(e) => return Err(format!("{}: reading from the board: {e}", step.what)),
        }
    }
    reply.truncate(got);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io;

    /// A line whose replies are given: each write is recorded, each read takes from the
    /// replies, and an empty queue times out.
    struct Scripted {
        sent: Vec<u8>,
        replies: VecDeque<u8>,
        /// how many bytes the line takes before it times out
        room: usize,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.replies.is_empty() {
                return Err(io::Error::new(ErrorKind::TimedOut, "timed out"));
            }
            // a byte at a time, as a slow line gives them
            buf[0] = self.replies.pop_front().unwrap_or(0);
            Ok(1)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room - self.sent.len()).min(3);
            if n == 0 {
                return Err(io::Error::new(ErrorKind::TimedOut, "timed out"));
            }
            self.sent.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Line for Scripted {
        fn set_wait(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    /// The shell's protocol as far as sync uses it: a write's header and data, `K` when a
    /// write is done (at once for no words), `?` to an unknown command byte at the idle
    /// state, and (with `lossy`) the byte after each answer lost, as the shell loses a byte
    /// that comes while it still sends an answer. `odd` answers every byte with it instead.
    struct Shell {
        /// bytes of data still to come (header bytes are counted apart)
        data: usize,
        header: Vec<u8>,
        in_header: bool,
        lossy: bool,
        lose_next: bool,
        odd: Option<u8>,
        taken: usize,
        out: VecDeque<u8>,
    }

    impl Shell {
        fn new(data: usize, lossy: bool) -> Shell {
            Shell {
                data,
                header: Vec::new(),
                in_header: false,
                lossy,
                lose_next: false,
                odd: None,
                taken: 0,
                out: VecDeque::new(),
            }
        }

        fn answer(&mut self, b: u8) {
            self.out.push_back(b);
            self.lose_next = self.lossy;
        }

        fn take(&mut self, b: u8) {
            self.taken += 1;
            if let Some(o) = self.odd {
                self.out.push_back(o);
                return;
            }
            if std::mem::take(&mut self.lose_next) {
                return;
            }
            if self.in_header {
                self.header.push(b);
                if self.header.len() == 6 {
                    self.in_header = false;
                    let h = std::mem::take(&mut self.header);
                    let words =
                        usize::from(h[3]) | usize::from(h[4]) << 8 | usize::from(h[5]) << 16;
                    if words == 0 {
                        self.answer(b'K');
                    } else {
                        self.data = 4 * words;
                    }
                }
            } else if self.data > 0 {
                self.data -= 1;
                if self.data == 0 {
                    self.answer(b'K');
                }
            } else if b == b'W' {
                self.in_header = true;
            } else {
                self.answer(b'?');
            }
        }
    }

    impl Read for Shell {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.out.pop_front() {
                Some(b) => {
                    buf[0] = b;
                    Ok(1)
                }
                None => Err(io::Error::new(ErrorKind::TimedOut, "timed out")),
            }
        }
    }

    impl Write for Shell {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            for &b in buf {
                self.take(b);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Line for Shell {
        fn set_wait(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn sync_completes_a_command_left_half_sent_and_checks_the_idle_answer() {
        for lossy in [false, true] {
            for data in [0, 1, 63, 64, 5000, MEMORY_BYTES] {
                let mut shell = Shell::new(data, lossy);
                sync(&mut shell, Duration::from_secs(1)).unwrap();
                assert!(shell.taken > data, "{data}");
                assert!(shell.out.is_empty() && shell.data == 0 && !shell.in_header);
            }
            // in the middle of a header
            let mut shell = Shell::new(0, lossy);
            shell.write_all(b"W\x00\x00").unwrap();
            sync(&mut shell, Duration::from_secs(1)).unwrap();
            assert!(shell.out.is_empty() && shell.data == 0 && !shell.in_header);
        }
        // a line nobody reads
        let mut dead = line(b"");
        dead.room = 0;
        let e = sync(&mut dead, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("the line took no more bytes"), "{e}");
        // a line that takes everything and never answers
        let e = sync(&mut line(b""), Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("bytes sent and no answer"), "{e}");
        // a board that answers, but not as the shell does
        let mut odd = Shell::new(0, false);
        odd.odd = Some(b'x');
        let e = sync(&mut odd, Duration::from_secs(1)).unwrap_err();
        assert!(e.ends_with("got no 'K' (it answered 'x')"), "{e}");
    }

    fn line(replies: &[u8]) -> Scripted {
        Scripted {
            sent: Vec::new(),
            replies: replies.iter().copied().collect(),
            room: usize::MAX,
        }
    }

    #[test]
    fn a_run_sends_the_engines_commands_and_reads_dram_back() {
        let dram = [1u8, 2, 3, 4, 5];
        let mut replies = b"KKD\x10\x27\x00\x00".to_vec();
        replies.extend_from_slice(&[9, 8, 7, 6, 5, 0, 0, 0]);
        let mut l = line(&replies);
        let r = run(&mut l, &[], &dram).unwrap();
        assert_eq!(r.cycles, 10_000);
        assert_eq!(r.dram, [9, 8, 7, 6, 5]);
        let expected: Vec<u8> = steps(&[], &dram)
            .unwrap()
            .into_iter()
            .flat_map(|s| s.send)
            .collect();
        assert_eq!(l.sent, expected);
    }

    #[test]
    fn a_wrong_or_missing_answer_names_the_step() {
        let e = run(&mut line(b""), &[], &[0; 4]).unwrap_err();
        assert!(
            e.starts_with("loading DRAM: the board did not answer"),
            "{e}"
        );
        let e = run(&mut line(b"?"), &[], &[0; 4]).unwrap_err();
        assert!(e.starts_with("loading DRAM: the board answered '?'"), "{e}");
        let e = run(&mut line(b"Kx"), &[], &[0; 4]).unwrap_err();
        assert_eq!(e, "loading the program: the board answered \"x\", not 'K'");
        let e = run(&mut line(b"KKD\x01"), &[], &[0; 4]).unwrap_err();
        assert_eq!(
            e,
            "running the program: the board answered 2 byte(s) \"D\\x01\", not 5"
        );
        let e = run(&mut line(b"KKD\x01\x00\x00\x00\x01\x02"), &[], &[0; 4]).unwrap_err();
        assert_eq!(
            e,
            "reading DRAM back: the board answered 2 byte(s) \"\\x01\\x02\", not 4"
        );
        let mut full = line(b"K");
        full.room = 20;
        let e = run(&mut full, &[], &[0; 64]).unwrap_err();
        assert_eq!(
            e,
            "loading DRAM: the line to the board took no more bytes (20 of 71 sent): is \
             anything reading it?"
        );
    }
}

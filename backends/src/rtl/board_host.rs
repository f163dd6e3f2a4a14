//! The host's side of a run on the board shell over a byte stream: a real board's serial
//! port, or the virtual board's pseudo-terminal ([`super::board::BoardEngine::serve`]). The
//! same exchanges as the board engine's ([`super::board::steps`]), one at a time, each
//! reply awaited before the next command.

use super::board::{Step, check_answer, results, steps};
use qweave_hw::isa::Instr;
use std::io::{ErrorKind, Read, Write};

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
    let mut sent = 0;
    while sent < step.send.len() {
        match line.write(&step.send[sent..]) {
            Ok(0) => return Err(format!("{}: the line to the board closed", step.what)),
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                return Err(format!(
                    "{}: the line to the board took no more bytes ({sent} of {} sent): is \
                     anything reading it?",
                    step.what,
                    step.send.len()
                ));
            }
            Err(e) => return Err(format!("{}: writing to the board: {e}", step.what)),
        }
    }
    line.flush()
        .map_err(|e| format!("{}: writing to the board: {e}", step.what))?;
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
                        "{}: the board did not answer (is the bundle's bitstream on it, and \
                         was it idle? a host stopped in the middle of a command leaves it \
                         waiting: configure it again)",
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

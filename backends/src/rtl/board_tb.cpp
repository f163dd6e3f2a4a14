// The board engine's testbench: the board shell (`board`, accel.sv's top for a board)
// with a host on its UART, bit by bit at QW_DIV clock cycles a bit. Reads its orders from
// standard input, one per line:
//   send FILE N    send FILE's bytes, then wait for N bytes from the board
//   out FILE       where every byte the board sent goes
//   max_cycles N   give up after N cycles
//   pty            instead of the steps: the virtual board; the host is whatever opens the
//                  pseudo-terminal this makes (printed first, as `pty PATH`): its bytes go to
//                  the board's RX line, the board's TX line's bytes back to it, until the
//                  parent process ends
//   run
// Prints `cycles N` (the cycles simulated) when every step is done, or `timeout N`.
#include "Vboard.h"
#include "verilated.h"
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>
#include <vector>

// cycles the line idles after power-up before the host's first byte (the shell's reset
// lasts 8)
static const uint64_t IDLE_FIRST = 64;

#ifndef QW_DIV
#error "QW_DIV (clock cycles per UART bit) must be defined"
#endif
// the board's top module: its clock port (QW_CLOCK), and its LED, lit while the accelerator
// runs, low (QW_LED_N, the iCEBreaker's) or high (QW_LED, the ZCU102's)
#ifndef QW_CLOCK
#error "QW_CLOCK (the top module's clock port) must be defined"
#endif
#if defined(QW_LED_N)
#define QW_IDLE(top) ((top)->led_n)
#elif defined(QW_LED)
#define QW_IDLE(top) (!(top)->led)
#else
#error "QW_LED_N or QW_LED must be defined"
#endif

static std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::cerr << "cannot read " << path << "\n";
    std::exit(2);
  }
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// The host's side of the RX line: a byte's ten bits, QW_DIV cycles each.
struct Sender {
  int bit = -1, left = 0;
  uint16_t frame = 0;
  bool idle() const { return bit < 0; }
  void start(uint8_t b) {
    frame = uint16_t((1u << 9) | (uint16_t(b) << 1));
    bit = 0;
    left = QW_DIV;
  }
  int line() const { return bit < 0 ? 1 : (frame >> bit) & 1; }
  void tick() {
    if (bit >= 0 && --left == 0) {
      bit++;
      left = QW_DIV;
      if (bit == 10) bit = -1;
    }
  }
};

// The host's side of the TX line: each bit sampled in its middle. `tick` returns 1 with a
// byte in `out`, -1 on a malformed byte, else 0.
struct Receiver {
  int bit = -1, left = 0;
  uint16_t frame = 0;
  bool idle() const { return bit < 0; }
  int tick(int tx, uint8_t& out) {
    if (bit < 0) {
      if (!tx) {
        bit = 0;
        left = QW_DIV / 2;
        frame = 0;
      }
      return 0;
    }
    if (--left != 0) return 0;
    frame |= uint16_t(tx) << bit;
    bit++;
    left = QW_DIV;
    if (bit < 10) return 0;
    bit = -1;
    if ((frame & 1) || !(frame >> 9)) return -1;
    out = uint8_t(frame >> 1);
    return 1;
  }
};

// One clock cycle of the board with both lines: `n` counts it; returns 1 with the byte the
// board finished sending in `b`, else 0 (a malformed byte ends the simulation).
static int cycle(Vboard* top, Sender& host, Receiver& board, uint64_t& n, uint8_t& b) {
  top->rx = host.line();
  top->QW_CLOCK = 0;
  top->eval();
  top->QW_CLOCK = 1;
  top->eval();
  n++;
  host.tick();
  int r = board.tick(top->tx, b);
  if (r < 0) {
    std::cerr << "the board sent a malformed byte at cycle " << n << "\n";
    std::exit(3);
  }
  return r;
}

// The virtual board: the shell behind a pseudo-terminal, until the parent process ends.
static int serve(Vboard* top) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    std::cerr << "cannot make a pseudo-terminal: " << std::strerror(errno) << "\n";
    return 2;
  }
  const char* name = ptsname(master);
  // the line passes bytes as they are; keeping the terminal's side open ourselves means a
  // host's closing it is no hang-up
  int keep = open(name, O_RDWR | O_NOCTTY);
  struct termios t;
  if (keep < 0 || tcgetattr(keep, &t) != 0) {
    std::cerr << "cannot open " << name << ": " << std::strerror(errno) << "\n";
    return 2;
  }
  cfmakeraw(&t);
  tcsetattr(keep, TCSANOW, &t);
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  std::cout << "pty " << name << std::endl;
  std::deque<uint8_t> in, out;
  Sender host;
  Receiver board;
  uint64_t n = 0, quiet = 0;
  pid_t parent = getppid();
  for (;;) {
    // a quiet line and an idle board: wait for the host instead of spinning
    if (n >= IDLE_FIRST && in.empty() && out.empty() && host.idle() && board.idle() &&
        QW_IDLE(top) && quiet > 16 * QW_DIV) {
      if (getppid() != parent) return 0;
      struct pollfd p = {master, POLLIN, 0};
      poll(&p, 1, 50);
    }
    if (in.empty() && (n & 63) == 0) {
      uint8_t buf[4096];
      ssize_t got = read(master, buf, sizeof buf);
      if (got > 0) in.insert(in.end(), buf, buf + got);
    }
    if (host.idle() && !in.empty() && n >= IDLE_FIRST) {
      host.start(in.front());
      in.pop_front();
    }
    uint8_t b;
    if (cycle(top, host, board, n, b)) out.push_back(b);
    while (!out.empty()) {
      ssize_t put = write(master, &out.front(), 1);
      if (put != 1) break;
      out.pop_front();
    }
    quiet = (host.idle() && board.idle() && QW_IDLE(top)) ? quiet + 1 : 0;
  }
}

int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  std::vector<std::pair<std::vector<uint8_t>, size_t>> steps;
  std::string out_path;
  uint64_t max_cycles = 1000000000;
  bool pty = false;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream s(line);
    std::string key;
    s >> key;
    if (key == "send") {
      std::string path;
      size_t n = 0;
      s >> path >> n;
      steps.emplace_back(slurp(path), n);
    } else if (key == "out") s >> out_path;
    else if (key == "max_cycles") s >> max_cycles;
    else if (key == "pty") pty = true;
    else if (key == "run") break;
  }
  Vboard* top = new Vboard;
  top->QW_CLOCK = 0;
  top->rx = 1;
  top->eval();
  if (pty) return serve(top);
  std::vector<uint8_t> got;
  Sender host;
  Receiver board;
  size_t step = 0, sent = 0, expect = 0;
  uint64_t n = 0;
  bool finished = false;
  while (n < max_cycles) {
    if (step == steps.size()) {
      finished = true;
      break;
    }
    // the host sends this step's bytes back to back, then waits for the board's (it starts
    // once the board is out of its power-up reset: a start bit shorter than that reset
    // would be missed)
    if (host.idle() && sent < steps[step].first.size() && n >= IDLE_FIRST) {
      host.start(steps[step].first[sent]);
      sent++;
    }
    uint8_t b;
    if (cycle(top, host, board, n, b)) {
      got.push_back(b);
      expect++;
    }
    if (sent == steps[step].first.size() && host.idle() && expect >= steps[step].second) {
      expect -= steps[step].second;
      step++;
      sent = 0;
    }
  }
  top->final();
  delete top;
  std::ofstream out(out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(got.data()), got.size());
  std::cout << (finished ? "cycles " : "timeout ") << n << "\n";
  return 0;
}

// The board engine's testbench: the board shell (`board`, accel.sv's top for an iCE40 board)
// with a host on its UART, bit by bit at QW_DIV clock cycles a bit. Reads its orders from
// standard input, one per line:
//   send FILE N    send FILE's bytes, then wait for N bytes from the board
//   out FILE       where every byte the board sent goes
//   max_cycles N   give up after N cycles
//   run
// Prints `cycles N` (the cycles simulated) when every step is done, or `timeout N`.
#include "Vboard.h"
#include "verilated.h"
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

// cycles the line idles after power-up before the host's first byte (the shell's reset
// lasts 8)
static const uint64_t IDLE_FIRST = 64;

#ifndef QW_DIV
#error "QW_DIV (clock cycles per UART bit) must be defined"
#endif

static std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::cerr << "cannot read " << path << "\n";
    std::exit(2);
  }
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  std::vector<std::pair<std::vector<uint8_t>, size_t>> steps;
  std::string out_path;
  uint64_t max_cycles = 1000000000;
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
    else if (key == "run") break;
  }
  Vboard* top = new Vboard;
  top->clk_12mhz = 0;
  top->rx = 1;
  top->eval();
  std::vector<uint8_t> got;
  // the host's line: the bits of the byte being sent, and the cycles left of the bit
  size_t step = 0, sent = 0, expect = 0;
  int bit = -1, bit_left = 0;
  uint16_t frame = 0;
  // the board's line: a byte being received (its first bit's middle counted down to)
  int rx_bit = -1, rx_left = 0;
  uint16_t rx_frame = 0;
  uint64_t cycle = 0;
  bool finished = false;
  while (cycle < max_cycles) {
    if (step == steps.size()) {
      finished = true;
      break;
    }
    // the host sends this step's bytes back to back, then waits for the board's (it starts
    // once the board is out of its power-up reset: a start bit shorter than that reset
    // would be missed)
    if (bit < 0 && sent < steps[step].first.size() && cycle >= IDLE_FIRST) {
      frame = uint16_t((1u << 9) | (uint16_t(steps[step].first[sent]) << 1));
      sent++;
      bit = 0;
      bit_left = QW_DIV;
    }
    top->rx = bit < 0 ? 1 : (frame >> bit) & 1;
    top->clk_12mhz = 0;
    top->eval();
    top->clk_12mhz = 1;
    top->eval();
    cycle++;
    if (bit >= 0 && --bit_left == 0) {
      bit++;
      bit_left = QW_DIV;
      if (bit == 10) bit = -1;
    }
    // the board's bytes, each bit sampled in its middle
    if (rx_bit < 0) {
      if (!top->tx) {
        rx_bit = 0;
        rx_left = QW_DIV / 2;
        rx_frame = 0;
      }
    } else if (--rx_left == 0) {
      rx_frame |= uint16_t(top->tx) << rx_bit;
      rx_bit++;
      rx_left = QW_DIV;
      if (rx_bit == 10) {
        rx_bit = -1;
        if ((rx_frame & 1) || !(rx_frame >> 9)) {
          std::cerr << "the board sent a malformed byte at cycle " << cycle << "\n";
          return 3;
        }
        got.push_back(uint8_t(rx_frame >> 1));
        expect++;
      }
    }
    if (sent == steps[step].first.size() && bit < 0 && expect >= steps[step].second) {
      expect -= steps[step].second;
      step++;
      sent = 0;
    }
  }
  top->final();
  delete top;
  std::ofstream out(out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(got.data()), got.size());
  std::cout << (finished ? "cycles " : "timeout ") << cycle << "\n";
  return 0;
}

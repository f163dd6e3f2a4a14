// The RTL engine's testbench: the generated accelerator (`main`) with a model of its DRAM and
// program port. Reads its orders from standard input, one per line:
//   program FILE   the 64-byte instruction words (program.bin without its 16-byte header)
//   dram FILE      DRAM's initial bytes; its size is DRAM's size
//   out FILE       where DRAM's final bytes go
//   max_cycles N   give up after N cycles
//   vcd FILE       (models built with tracing) write a waveform
//   run
// DRAM answers a read beat QW_LATENCY cycles after its request, in order, and acknowledges a
// write QW_LATENCY cycles after it; on designs with `m_wready` (QW_WREADY, the serial
// datapath) it holds a write whose mask covers part of a nibble for a cycle, as the board's
// SPRAM does while it reads the word to merge into. The program port answers the next cycle
// with beat
// `i_addr` of the program, QW_PROGRAM_BEAT bytes (a whole instruction, or 4 bytes on the
// serial datapath). Prints
// `cycles N` when the accelerator raises `done`, and before it, for every instruction a queue
// ran, `q QUEUE START END` (the cycles its queue raised go and saw done; queues 0 load,
// 1 compute, 2 store).
#include "Vmain.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>
#ifdef QW_TRACE
#include "verilated_vcd_c.h"
#endif

#ifndef QW_BUS
#error "QW_BUS (DRAM bus bits) must be defined"
#endif
#ifndef QW_LATENCY
#error "QW_LATENCY (DRAM read latency in cycles) must be defined"
#endif
#ifndef QW_PROGRAM_BEAT
#error "QW_PROGRAM_BEAT (bytes of a program port beat) must be defined"
#endif

static const int BUS_BYTES = QW_BUS / 8;

static std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::cerr << "cannot read " << path << "\n";
    std::exit(2);
  }
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

template <typename W>
static void put_bytes(W& wide, const uint8_t* src, int n) {
  for (int w = 0; w < (n + 3) / 4; w++) {
    uint32_t v = 0;
    for (int b = 0; b < 4 && 4 * w + b < n; b++) v |= uint32_t(src[4 * w + b]) << (8 * b);
    wide[w] = v;
  }
}

template <typename W>
static uint8_t byte_of(const W& wide, int i) {
  return uint8_t(wide[i / 4] >> (8 * (i % 4)));
}

// buses of up to 64 bits are plain integers in the model, wider ones arrays of words
template <typename I>
static void put_int(I& v, const uint8_t* src, int n) {
  uint64_t x = 0;
  for (int b = 0; b < n && b < int(sizeof(I)); b++) x |= uint64_t(src[b]) << (8 * b);
  v = I(x);
}
static void put_bytes(uint8_t& v, const uint8_t* src, int n) { put_int(v, src, n); }
static void put_bytes(uint16_t& v, const uint8_t* src, int n) { put_int(v, src, n); }
static void put_bytes(uint32_t& v, const uint8_t* src, int n) { put_int(v, src, n); }
static void put_bytes(uint64_t& v, const uint8_t* src, int n) { put_int(v, src, n); }
static uint8_t byte_of(uint8_t v, int) { return v; }
static uint8_t byte_of(uint16_t v, int i) { return uint8_t(v >> (8 * i)); }
static uint8_t byte_of(uint32_t v, int i) { return uint8_t(v >> (8 * i)); }
static uint8_t byte_of(uint64_t v, int i) { return uint8_t(v >> (8 * i)); }

int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  std::string program_path, dram_path, out_path, vcd_path;
  uint64_t max_cycles = 100000000;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream s(line);
    std::string key;
    s >> key;
    if (key == "program") s >> program_path;
    else if (key == "dram") s >> dram_path;
    else if (key == "out") s >> out_path;
    else if (key == "max_cycles") s >> max_cycles;
    else if (key == "vcd") s >> vcd_path;
    else if (key == "run") break;
  }
  std::vector<uint8_t> program = slurp(program_path);
  std::vector<uint8_t> dram = slurp(dram_path);
  const size_t beats = program.size() / QW_PROGRAM_BEAT;

  Vmain* top = new Vmain;
#ifdef QW_TRACE
  VerilatedVcdC* trace = nullptr;
  if (!vcd_path.empty()) {
    Verilated::traceEverOn(true);
    trace = new VerilatedVcdC;
    top->trace(trace, 99);
    trace->open(vcd_path.c_str());
  }
#endif
  uint64_t time = 0;
  auto tick = [&](void) {
    top->clk = 0;
    top->eval();
#ifdef QW_TRACE
    if (trace) trace->dump(time);
#endif
    time++;
    top->clk = 1;
    top->eval();
#ifdef QW_TRACE
    if (trace) trace->dump(time);
#endif
    time++;
  };

  top->go = 0;
  top->reset = 1;
  for (int i = 0; i < 4; i++) tick();
  top->reset = 0;
  top->go = 1;
  top->i_valid = 0;
  top->m_rvalid = 0;
  top->m_wack = 0;
#ifdef QW_WREADY
  top->m_wready = 1;
  bool merging = false;  // the write held last cycle is taken this cycle
#endif

  std::deque<std::pair<uint64_t, uint32_t>> reads;  // (due cycle, beat)
  std::deque<uint64_t> acks;                        // due cycles
  uint64_t cycle = 0;
  bool finished = false;
  uint64_t started[3] = {0, 0, 0};
  bool going[3] = {false, false, false};
  std::string timing;
  while (cycle < max_cycles) {
    // the requests this cycle's state makes
    top->clk = 0;
    top->eval();
    if (top->done) {
      finished = true;
      break;
    }
    for (int q = 0; q < 3; q++) {
      bool go = (top->t_go >> q) & 1;
      if (go && !going[q]) started[q] = cycle;
      going[q] = go;
      if ((top->t_done >> q) & 1) {
        timing += "q " + std::to_string(q) + " " + std::to_string(started[q]) + " " +
                  std::to_string(cycle) + "\n";
        going[q] = false;
      }
    }
    bool ireq = top->i_req;
    uint32_t iaddr = top->i_addr;
    if (top->m_rreq) reads.emplace_back(cycle + QW_LATENCY, top->m_raddr);
#ifdef QW_WREADY
    {
      bool partial = false;
      for (int k = 0; k < 8; k++) {
        uint32_t nibble = (uint32_t(top->m_wmask) >> (4 * k)) & 15;
        if (nibble != 0 && nibble != 15) partial = true;
      }
      bool hold = top->m_wreq && partial && !merging;
      top->m_wready = !hold;
      top->eval();
      merging = hold;
    }
    if (top->m_wreq && top->m_wready) {
#else
    if (top->m_wreq) {
#endif
      uint64_t at = uint64_t(top->m_waddr) * BUS_BYTES;
      for (int b = 0; b < BUS_BYTES; b++) {
        uint8_t mask = byte_of(top->m_wmask, b);
        if (!mask) continue;
        if (at + b >= dram.size()) {
          std::cerr << "write to DRAM byte " << at + b << " past its " << dram.size() << " bytes\n";
          return 3;
        }
        dram[at + b] = (dram[at + b] & ~mask) | (byte_of(top->m_wdata, b) & mask);
      }
      acks.push_back(cycle + QW_LATENCY);
    }
    tick();
    cycle++;
    // what the ports answer in the next cycle
    top->i_valid = ireq;
    if (ireq) {
      uint8_t beat[QW_PROGRAM_BEAT] = {0};
      if (iaddr < beats)
        std::memcpy(beat, &program[size_t(iaddr) * QW_PROGRAM_BEAT], QW_PROGRAM_BEAT);
      put_bytes(top->i_data, beat, QW_PROGRAM_BEAT);
    }
    top->m_rvalid = 0;
    if (!reads.empty() && reads.front().first <= cycle) {
      uint64_t at = uint64_t(reads.front().second) * BUS_BYTES;
      uint8_t beat[BUS_BYTES];
      for (int b = 0; b < BUS_BYTES; b++) beat[b] = at + b < dram.size() ? dram[at + b] : 0;
      put_bytes(top->m_rdata, beat, BUS_BYTES);
      top->m_rvalid = 1;
      reads.pop_front();
    }
    top->m_wack = 0;
    if (!acks.empty() && acks.front() <= cycle) {
      top->m_wack = 1;
      acks.pop_front();
    }
  }
#ifdef QW_TRACE
  if (trace) trace->close();
#endif
  top->final();
  delete top;
  if (!finished) {
    std::cout << "timeout " << cycle << "\n";
    return 0;
  }
  std::ofstream out(out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(dram.data()), dram.size());
  std::cout << timing << "cycles " << cycle << "\n";
  return 0;
}

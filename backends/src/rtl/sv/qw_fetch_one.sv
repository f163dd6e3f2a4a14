// qw_fetch_one: instruction fetch for the serial controller: one instruction held at a time
// (the serial datapath reads its fields while it runs). The program port is 32 bits wide, as
// the board's memory is: when the held instruction is taken, the next one's sixteen beats are
// asked for on consecutive cycles (beat b of instruction p at word 16 p + b) and written in
// place as they come back, in order; nothing past `end`.
// A `store` is held with its fields where a `load` has them (docs/isa.md), so that the
// transfer engine reads one layout: format, bits, SRAM address, DRAM byte and bit, the three
// counts and strides; its padding reads 0 and its buffer the accumulators. That rewrite takes
// a cycle after the last beat. (The selection sits in front of held bits that a load uses
// too, where it shares their logic cells.)
module qw_fetch_one (
    input  logic         clk,
    input  logic         reset,
    input  logic         next,      // the datapath finished `insn`
    output logic [511:0] insn,
    output logic         valid,
    output logic         i_req,
    output logic [31:0]  i_addr,
    input  logic         i_valid,
    input  logic [31:0]  i_data
);
  // a store's fields at a load's places (the bytes of docs/isa.md)
  function automatic logic [511:0] as_load(input logic [511:0] st);
    as_load = st;
    as_load[34:32] = 3'd2;                      // buf=acc
    as_load[41:40] = st[8*12 +: 2];             // fmt
    as_load[53:48] = st[8*13 +: 6];             // bits
    as_load[87:56] = '0;                        // no padding
    as_load[8*11 +: 16] = st[8*4 +: 16];        // sram
    as_load[8*15 +: 32] = st[8*8 +: 32];        // dram
    as_load[8*53 +: 3] = st[8*32 +: 3];         // bit
    as_load[8*19 +: 16] = st[8*14 +: 16];       // z, y, x
    as_load[8*21 +: 16] = st[8*16 +: 16];
    as_load[8*23 +: 16] = st[8*18 +: 16];
    as_load[8*25 +: 32] = st[8*20 +: 32];       // zs, ys, xs
    as_load[8*29 +: 32] = st[8*24 +: 32];
    as_load[8*33 +: 32] = st[8*28 +: 32];
  endfunction
  logic fetching, stop, remap;
  logic [4:0] asked, got;        // beats asked for and received
  logic [27:0] pc;               // the instruction being fetched
  assign i_req = fetching && !asked[4];
  assign i_addr = {pc, asked[3:0]};
  wire start = !reset && !stop && !fetching && !remap && (!valid || next);
  always_ff @(posedge clk) begin
    if (reset) begin
      valid <= 0;
      fetching <= 0;
      remap <= 0;
      pc <= 0;
      stop <= 0;
    end else begin
      remap <= 0;
      if (next && valid) valid <= 0;
      if (start) begin
        fetching <= 1;
        asked <= 0;
        got <= 0;
      end
      if (i_req) asked <= asked + 5'd1;
      // (a beat's 32 flip-flops enabled together: no multiplexer in front of them)
      for (int k = 0; k < 16; k++)
        if (fetching && i_valid && got[3:0] == 4'(k)) insn[32*k +: 32] <= i_data;
      if (fetching && i_valid) begin
        got <= got + 5'd1;
        if (got == 5'd15) begin
          fetching <= 0;
          pc <= pc + 28'd1;
          // (the opcode came in the first beat)
          if (insn[7:0] == 8'd10) remap <= 1;
          else valid <= 1;
          if (insn[7:0] == 8'd11) stop <= 1;
        end
      end
      if (remap) begin
        insn <= as_load(insn);
        valid <= 1;
      end
    end
  end
endmodule

// qw_fetch_one: instruction fetch for the serial controller: one instruction held at a time
// (the serial datapath reads its fields while it runs), the next one asked for from the program
// port in the cycle the held one is taken and there the cycle after; nothing past `end`.
// A `store` is held with its fields where a `load` has them (docs/isa.md), so that the
// transfer engine reads one layout: format, bits, SRAM address, DRAM byte and bit, the three
// counts and strides; its padding reads 0 and its buffer the accumulators. (The selection
// sits in front of held bits that a load uses too, where it shares their logic cells: 101
// cells fewer than selecting in the transfer engine.)
module qw_fetch_one (
    input  logic         clk,
    input  logic         reset,
    input  logic         next,      // the datapath finished `insn`
    output logic [511:0] insn,
    output logic         valid,
    output logic         i_req,
    output logic [31:0]  i_addr,
    input  logic         i_valid,
    input  logic [511:0] i_data
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
  logic waiting, stop;
  logic [31:0] pc;
  assign i_req = !reset && !stop && !waiting && (!valid || next);
  assign i_addr = pc;
  always_ff @(posedge clk) begin
    if (reset) begin
      valid <= 0;
      waiting <= 0;
      pc <= 0;
      stop <= 0;
    end else begin
      if (next && valid) valid <= 0;
      if (i_req) begin
        pc <= pc + 32'd1;
        waiting <= 1;
      end
      if (i_valid && waiting) begin
        insn <= i_data[7:0] == 8'd10 ? as_load(i_data) : i_data;
        valid <= 1;
        waiting <= 0;
        if (i_data[7:0] == 8'd11) stop <= 1;
      end
    end
  end
endmodule

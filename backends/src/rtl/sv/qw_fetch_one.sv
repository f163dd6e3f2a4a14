// qw_fetch_one: instruction fetch for the serial controller: one instruction held at a time
// (the serial datapath reads its fields while it runs), the next one asked for from the program
// port in the cycle the held one is taken and there the cycle after; nothing past `end`.
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
        insn <= i_data;
        valid <= 1;
        waiting <= 0;
        if (i_data[7:0] == 8'd11) stop <= 1;
      end
    end
  end
endmodule

// qw_fetch: instruction fetch from the testbench's program port, one request a cycle answered
// the next cycle, four instructions buffered ahead of the dispatcher; nothing past `end`.
module qw_fetch (
    input  logic         clk,
    input  logic         reset,
    input  logic         next,      // the dispatcher took `insn`
    output logic [511:0] insn,
    output logic         valid,
    output logic         i_req,
    output logic [31:0]  i_addr,
    input  logic         i_valid,
    input  logic [511:0] i_data
);
  logic [511:0] buffer [4];
  logic [1:0] rd, wr;
  logic [2:0] count, inflight;
  logic [31:0] pc;
  logic stop;  // an `end` was fetched: fetch nothing past it
  assign insn = buffer[rd];
  assign valid = count != 0;
  assign i_req = !reset && !stop && (count + inflight < 3'd4);
  assign i_addr = pc;
  always_ff @(posedge clk) begin
    if (reset) begin
      rd <= 0;
      wr <= 0;
      count <= 0;
      inflight <= 0;
      pc <= 0;
      stop <= 0;
    end else begin
      if (i_req) pc <= pc + 1;
      if (i_valid && !stop) begin
        buffer[wr] <= i_data;
        wr <= wr + 1'b1;
        if (i_data[7:0] == 8'd11) stop <= 1;
      end
      if (next && valid) rd <= rd + 1'b1;
      count <= count + 3'(i_valid && !stop) - 3'(next && valid);
      inflight <= inflight + 3'(i_req) - 3'(i_valid);
    end
  end
endmodule

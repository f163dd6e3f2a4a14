// qw_tokens: a dependency-token FIFO between two queues; tokens carry no data, so it is a
// counter (pushes and pops in one cycle both count).
module qw_tokens (
    input  logic clk,
    input  logic reset,
    input  logic push,
    input  logic pop,
    output logic avail
);
  logic [15:0] n;
  assign avail = n != 0;
  always_ff @(posedge clk) begin
    if (reset) n <= 0;
    else n <= n + 16'(push) - 16'(pop && avail);
  end
endmodule

// Instructions come from the testbench's program port one request a cycle, answered the next
// cycle; four are buffered ahead of the dispatcher.

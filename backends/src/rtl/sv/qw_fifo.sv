// qw_fifo: an instruction queue of the controller (Calyx reads its registered outputs in the
// cycle it drives its inputs).
module qw_fifo #(
    parameter int WIDTH = 512,
    parameter int DEPTH = 16,
    parameter int LOG = 4
) (
    input  logic             clk,
    input  logic             reset,
    input  logic             push,
    input  logic [WIDTH-1:0] din,
    input  logic             pop,
    output logic [WIDTH-1:0] head,
    output logic             nonempty,
    output logic             full
);
  logic [WIDTH-1:0] mem [DEPTH];
  logic [LOG-1:0] rd, wr;
  logic [LOG:0] count;
  assign head = mem[rd];
  assign nonempty = count != 0;
  assign full = count == (LOG+1)'(DEPTH);
  always_ff @(posedge clk) begin
    if (reset) begin
      rd <= 0;
      wr <= 0;
      count <= 0;
    end else begin
      if (push && !full) begin
        mem[wr] <= din;
        wr <= wr + 1'b1;
      end
      if (pop && nonempty) rd <= rd + 1'b1;
      count <= count + (LOG+1)'(push && !full) - (LOG+1)'(pop && nonempty);
    end
  end
endmodule

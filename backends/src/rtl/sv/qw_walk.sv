// qw_walk: a walk over z planes of y rows of x values in order (plane, row, column) that keeps
// the current value's address with one adder: `xs`, `ys` and `zs` are the strides.
// `start` (re)starts it at `base`; `step` moves to the next value; `on` holds until the last
// value is stepped past; `last` marks that value. Counters count down to the end of their
// row, plane and walk.
module qw_walk #(
    parameter int A = 35,     // bits of an address
    parameter int C = 16      // bits of a count (dimensions are below 2^C)
) (
    input  logic         clk,
    input  logic         start,
    input  logic [A-1:0] base,
    input  logic [C-1:0] z,
    input  logic [C-1:0] y,
    input  logic [C-1:0] x,
    input  logic [A-1:0] zs,
    input  logic [A-1:0] ys,
    input  logic [A-1:0] xs,
    input  logic         step,
    output logic [A-1:0] at,
    output logic         on,
    output logic         last     // the current value is the last one
);
  logic [C-1:0] p, r, c;     // values left after the current one in its row, plane, walk
  logic [A-1:0] row, plane;  // where the current row and plane start
  wire row_end = c == 0;
  wire plane_end = row_end && r == 0;
  assign last = plane_end && p == 0;
  // the next value: along the row, at the next row's start, or at the next plane's
  wire [A-1:0] sum = (plane_end ? plane : row_end ? row : at)
                   + (plane_end ? zs : row_end ? ys : xs);
  always_ff @(posedge clk) begin
    if (start) begin
      p <= z - C'(1);
      r <= y - C'(1);
      c <= x - C'(1);
      at <= base;
      row <= base;
      plane <= base;
      on <= z != 0 && y != 0 && x != 0;
    end else if (step && on) begin
      at <= sum;
      c <= c - C'(1);
      if (row_end) begin
        c <= x - C'(1);
        r <= r - C'(1);
        row <= sum;
        if (plane_end) begin
          r <= y - C'(1);
          p <= p - C'(1);
          plane <= sum;
          if (p == 0) on <= 0;
        end
      end
    end
  end
endmodule

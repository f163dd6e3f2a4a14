// qw_spe: a precision-scalable PE built from 2-bit bricks (Bit Fusion). In mode wNaM it
// computes the sum of `p` products of N-bit weights by M-bit activations: each operand splits
// into base-4 digits (the top one signed for a signed or bipolar operand), a brick multiplies
// two digits, and the fusion network shifts each brick's product by twice its digits' ranks
// and adds them. With both operands bipolar it runs XNOR-popcount instead: p - 2 x (the
// positions whose signs differ).
module qw_spe #(
    parameter int P = 16,       // products per cycle in the narrowest mode
    parameter int OUT = 24      // bits of the sum
) (
    input  logic                  clk,
    input  logic                  en,
    input  logic [2:0]            dw,      // digits of a weight: ceil(w / 2)
    input  logic [2:0]            da,      // digits of an activation
    input  logic                  w_signed,
    input  logic                  a_signed,
    input  logic                  xnor_mode,
    input  logic [P-1:0]          live,    // products that count this cycle
    input  logic signed [8:0]     w [P],
    input  logic signed [8:0]     a [P],
    output logic signed [OUT-1:0] sum
);
  logic signed [OUT-1:0] next;
  always_comb begin
    logic signed [2:0] x, y;
    logic signed [OUT-1:0] bricks;
    logic [7:0] differ;
    next = 0;
    differ = 0;
    x = 0;
    y = 0;
    bricks = 0;
    for (int q = 0; q < P; q++) begin
      if (xnor_mode) begin
        if (live[q] && (w[q][8] != a[q][8])) differ = differ + 8'd1;
      end else if (live[q]) begin
        bricks = 0;
        for (int i = 0; i < 4; i++) begin
          for (int j = 0; j < 4; j++) begin
            if (3'(i) < dw && 3'(j) < da) begin
              x = {(3'(i) + 1 == dw) ? (w_signed & w[q][2*i+1]) : 1'b0, w[q][2*i +: 2]};
              y = {(3'(j) + 1 == da) ? (a_signed & a[q][2*j+1]) : 1'b0, a[q][2*j +: 2]};
              bricks = bricks + (OUT'(x * y) <<< (2 * (i + j)));
            end
          end
        end
        next = next + bricks;
      end
    end
    if (xnor_mode) next = OUT'(signed'(32'($countones(live)) - {23'd0, differ, 1'b0}));
  end
  always_ff @(posedge clk) if (en) sum <= next;
endmodule

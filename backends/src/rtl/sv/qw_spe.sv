// qw_spe: a precision-scalable PE built from 2-bit bricks (Bit Fusion). In mode wNaM it
// computes the sum of `p` products of N-bit weights by M-bit activations: each operand splits
// into base-4 digits (the top one signed for a signed or bipolar operand), a brick multiplies
// two digits, and the fusion network shifts each brick's product by twice its digits' ranks
// and adds them (the mode only changes which digits reach a brick and the shift of its
// product: qw_brick_routes). With both operands bipolar it runs XNOR-popcount instead:
// p - 2 x (the positions whose signs differ).
module qw_spe #(
    parameter int P = 16,       // products per cycle in the narrowest mode
    parameter int OUT = 24      // bits of the sum
) (
    input  logic                  clk,
    input  logic                  en,
    input  logic [2:0]            dw,      // digits of a weight: ceil(w / 2)
    input  logic [2:0]            da,      // digits of an activation
    // the mode's routing, shared by every PE (qw_brick_routes): per brick its product,
    // weight digit, activation digit, and whether it is used
    input  logic [3:0]            route_q [16],
    input  logic [1:0]            route_i [16],
    input  logic [1:0]            route_j [16],
    input  logic [15:0]           route_on,
    input  logic                  w_signed,
    input  logic                  a_signed,
    input  logic                  xnor_mode,
    input  logic [P-1:0]          live,    // products that count this cycle
    input  logic signed [8:0]     w [P],
    input  logic signed [8:0]     a [P],
    output logic signed [OUT-1:0] sum
);
  localparam int BRICKS = 16;
  logic signed [OUT-1:0] next;
  // the operands padded to one per brick, so every brick indexes them alike
  logic [BRICKS-1:0] lv;
  logic [8:0] wv [BRICKS], av [BRICKS];
  always_comb begin
    for (int k = 0; k < BRICKS; k++) begin
      lv[k] = k < P ? live[k % P] : 1'b0;
      wv[k] = k < P ? w[k % P] : 9'd0;
      av[k] = k < P ? a[k % P] : 9'd0;
    end
  end
  always_comb begin
    logic signed [2:0] x, y;
    logic [7:0] differ;
    logic [3:0] q;
    logic [1:0] i, j;
    next = 0;
    differ = 0;
    x = 0;
    y = 0;
    for (int b = 0; b < BRICKS; b++) begin
      q = route_q[b];
      i = route_i[b];
      j = route_j[b];
      if (!xnor_mode && route_on[b] && lv[q]) begin
        x = {(3'(i) + 1 == dw) ? (w_signed & wv[q][2*i+1]) : 1'b0, wv[q][2*i +: 2]};
        y = {(3'(j) + 1 == da) ? (a_signed & av[q][2*j+1]) : 1'b0, av[q][2*j +: 2]};
        next = next + (OUT'(x * y) <<< (2 * (32'(i) + 32'(j))));
      end
    end
    for (int k = 0; k < P; k++)
      if (live[k] && (w[k][8] != a[k][8])) differ = differ + 8'd1;
    if (xnor_mode) next = OUT'(signed'(32'($countones(live)) - {23'd0, differ, 1'b0}));
  end
  always_ff @(posedge clk) if (en) sum <= next;
endmodule

// qw_dsp_pair: two products that share their weight in one 27 x 18 multiply (one DSP48E2),
// the serial column's rows taken two at a time on Xilinx parts (WP486's shared operand).
// Operands are 8-bit values, signed or unsigned, as 9-bit signed numbers, so each product
// lies in [-32640, 65025] and fits 18 bits. The activations go in as `a_hi * 2^18 + a_lo`:
// the low 18 bits are a_lo sign-extended and the upper 9 a_hi less a_lo's borrow, so the
// packing costs a 9-bit decrement, not a 27-bit add. Of the product `p`, the low 18 bits are
// a_lo * w, and a_hi * w is the rest plus the borrow the low product's sign took from it:
// p[44:18] + p[17].
module qw_dsp_pair (
    input  logic signed [8:0]  a_lo,
    input  logic signed [8:0]  a_hi,
    input  logic signed [8:0]  w,
    output logic signed [17:0] p_lo,
    output logic signed [17:0] p_hi
);
  wire signed [26:0] a = {a_hi - 9'(a_lo[8]), {9{a_lo[8]}}, a_lo};
  wire signed [17:0] b = 18'(w);
  wire signed [44:0] p = a * b;
  assign p_lo = p[17:0];
  assign p_hi = 18'(p[44:18]) + 18'(p[17]);
endmodule

// qw_gemm_insn: the fields of a latched `gemm` instruction word (docs/isa.md), shared by the
// bricks array (qw_gemm) and the DSP array (qw_gemm_dsp).
module qw_gemm_insn (
    // the word also holds the opcode, flags and reserved bytes
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic [511:0] I,
    /* verilator lint_on UNUSEDSIGNAL */
    output logic [31:0]  f_inp,
    output logic [31:0]  f_wgt,
    output logic [31:0]  f_acc,
    output logic [15:0]  groups,
    output logic [15:0]  cin,
    output logic [15:0]  ih,
    output logic [15:0]  iw,
    output logic [15:0]  m,
    output logic [15:0]  oh,
    output logic [15:0]  ow,
    output logic [7:0]   kh,
    output logic [7:0]   kw,
    output logic [7:0]   sh,
    output logic [7:0]   sw,
    output logic [7:0]   dh,
    output logic [7:0]   dw,
    output logic         reset_sums
);
  assign f_inp = I[8*4 +: 32];
  assign f_wgt = I[8*8 +: 32];
  assign f_acc = I[8*12 +: 32];
  assign groups = I[8*16 +: 16];
  assign cin = I[8*18 +: 16];
  assign ih = I[8*20 +: 16];
  assign iw = I[8*22 +: 16];
  assign m = I[8*24 +: 16];
  assign oh = I[8*26 +: 16];
  assign ow = I[8*28 +: 16];
  assign kh = I[8*30 +: 8];
  assign kw = I[8*31 +: 8];
  assign sh = I[8*32 +: 8];
  assign sw = I[8*33 +: 8];
  assign dh = I[8*34 +: 8];
  assign dw = I[8*35 +: 8];
  assign reset_sums = I[8*36];
endmodule

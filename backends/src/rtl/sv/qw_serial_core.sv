// qw_serial_core: the serial datapath, for parts as small as the iCE40 UP5K: one instruction at
// a time in program order, each memory a block RAM with one write and one registered read
// port. The transfer engine (qw_serial_xfer) moves one entry a cycle over a 32-bit DRAM bus;
// the array (qw_serial_gemm) is a column of ROWS multipliers that share a weight and keep
// ROWS neighbouring output pixels' sums, so the input memory is ROWS copies; the
// post-processing unit (qw_ucode) is a 16-bit micro-machine running each instruction's
// microcode. Only one unit
// runs at a time, so each memory's ports are muxed by the running instruction's opcode.
// `config`, `sync` and `end` take a cycle.
module qw_serial_core #(
    parameter int ROWS = 4,
    parameter int LOG_ROWS = 2,
    parameter int PAIRED = 0,  // 1: the column's rows two to a DSP48E2 (qw_dsp_pair)
    parameter int ACC_BITS = 32,
    parameter int LI = 9,    // log2 of the entries of the input, weight, accumulator,
    parameter int LW = 9,    // parameter and table memories
    parameter int LA = 9,
    parameter int LP = 6,
    parameter int LL = 8
) (
    input  logic         clk,
    input  logic         reset,
    input  logic         go,
    input  logic [511:0] insn,
    // the program port's beats, as the fetch receives them
    input  logic         i_valid,
    input  logic [31:0]  i_data,
    output logic         done,
    output logic         m_rreq,
    output logic [31:0]  m_raddr,
    input  logic         m_rvalid,
    input  logic [31:0]  m_rdata,
    output logic         m_wreq,
    output logic [31:0]  m_waddr,
    output logic [31:0]  m_wdata,
    output logic [31:0]  m_wmask,
    input  logic         m_wready,
    input  logic         m_wack,
    // the instruction's queues' go and done, for the testbench's per-instruction timing
    output logic [2:0]   t_go,
    output logic [2:0]   t_done
);
  localparam logic [7:0] CONFIG = 1, LOAD = 2, GEMM = 3, STORE = 10, SYNC = 12;
  // the walks keep addresses of the widest memory's bits, and counts one bit wider (a valid
  // program's dimensions each stay within a memory); at least a byte field's 8 bits
  localparam int LM0 = LI > LW ? LI : LW;
  localparam int LM1 = LA > LP ? LA : LP;
  localparam int LM2 = LM0 > LM1 ? LM0 : LM1;
  localparam int LM3 = LM2 > LL ? LM2 : LL;
  localparam int AW = LM3 > 8 ? LM3 : 8;
  localparam int CW = AW + 1;
  localparam int WB = 2 + 4 * AW + 3 * CW;  // a walk's controls (qw_serial_gemm's `walks`)
  localparam logic [2:0] INP = 0, WGT = 1, ACC = 2, PAR = 3;  // else LUT

  wire [7:0] op = insn[7:0];
  wire x_go = go && (op == LOAD || op == STORE);
  wire g_go = go && op == GEMM;
  wire p_go = go && op >= 8'd4 && op <= 8'd9;

  // the compute mode
  logic [1:0] cfg_wfmt, cfg_afmt;
  logic [5:0] cfg_acc_bits;
  logic quick;
  always_ff @(posedge clk) begin
    if (reset) quick <= 0;
    else begin
      quick <= go && !x_go && !g_go && !p_go && !quick;
      if (go && op == CONFIG && !quick) begin
        cfg_wfmt <= insn[49:48];
        cfg_afmt <= insn[57:56];
        cfg_acc_bits <= insn[69:64];
      end
    end
  end

  // ---- the units ----
  logic x_done, x_wen, g_done, p_done;
  logic [2:0] x_wbuf;
  // each memory takes the low bits of an address
  /* verilator lint_off UNUSEDSIGNAL */
  logic [15:0] x_waddr, x_raddr;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [31:0] x_wval;  // a load's values fit 32 bits (a serial datapath's limits)
  logic [ACC_BITS-1:0] acc_rd;
  qw_serial_xfer #(.ACC_BITS(ACC_BITS), .AW(AW), .CW(CW)) xfer (
      .clk, .reset, .go(x_go), .insn, .done(x_done),
      .w_en(x_wen), .w_buf(x_wbuf), .w_addr(x_waddr), .w_val(x_wval),
      .r_addr(x_raddr), .r_val(acc_rd),
      .m_rreq, .m_raddr, .m_rvalid, .m_rdata, .m_wreq, .m_waddr, .m_wdata, .m_wmask, .m_wready,
      .m_wack);

  logic [ROWS*LI-1:0] inp_ra;
  logic [ROWS*8-1:0] inp_rd;
  logic [LW-1:0] wgt_ra;
  logic [7:0] wgt_rd;
  logic [LA-1:0] g_ara, g_awa, p_ara, p_awa;
  logic g_awe, p_awe;
  logic [ACC_BITS-1:0] g_awd, p_awd;
  logic [3*WB-1:0] g_walks;
  logic [3*(AW+2)-1:0] walked;
  qw_serial_gemm #(.ROWS(ROWS), .LOG_ROWS(LOG_ROWS), .PAIRED(PAIRED), .ACC_BITS(ACC_BITS),
                   .LI(LI), .LW(LW), .LA(LA), .AW(AW), .CW(CW)) gemm (
      .clk, .reset, .go(g_go), .insn, .done(g_done), .cfg_wfmt, .cfg_afmt, .cfg_acc_bits,
      .inp_ra, .inp_rd, .wgt_ra, .wgt_rd, .acc_ra(g_ara), .acc_rd, .acc_we(g_awe),
      .acc_wa(g_awa), .acc_wd(g_awd), .walks(g_walks), .walked);

  logic [LP-1:0] par_ra;
  logic [31:0] par_rd;
  logic [LL-1:0] lut_ra;
  logic [31:0] lut_rd;
  qw_ucode #(.ACC_BITS(ACC_BITS), .LA(LA), .LP(LP), .LL(LL)) post (
      .clk, .reset, .go(p_go), .opcode(op), .i_valid, .i_data, .done(p_done), .cfg_acc_bits,
      .acc_ra(p_ara), .acc_rd, .acc_we(p_awe), .acc_wa(p_awa), .acc_wd(p_awd),
      .par_ra, .par_rd, .lut_ra, .lut_rd);

  // ---- the array's three walks ----
  for (genvar k = 0; k < 3; k++) begin : walk
    wire [WB-1:0] w = g_walks[k*WB +: WB];
    qw_walk #(.A(AW), .C(CW)) u (
        .clk, .start(w[0]), .step(w[1]), .base(w[2 +: AW]), .z(w[2+AW +: CW]),
        .y(w[2+AW+CW +: CW]), .x(w[2+AW+2*CW +: CW]), .zs(w[2+AW+3*CW +: AW]),
        .ys(w[2+2*AW+3*CW +: AW]), .xs(w[2+3*AW+3*CW +: AW]),
        .at(walked[k*(AW+2) +: AW]), .on(walked[k*(AW+2) + AW]),
        .last(walked[k*(AW+2) + AW + 1]));
  end

  // ---- the memories ----
  for (genvar r = 0; r < ROWS; r++) begin : inp
    qw_ram #(.N(1 << LI), .LOG(LI), .W(8)) copy (
        .clk, .we(x_wen && x_wbuf == INP), .wa(x_waddr[LI-1:0]), .wd(x_wval[7:0]),
        .ra(inp_ra[r*LI +: LI]), .rd(inp_rd[r*8 +: 8]));
  end
  qw_ram #(.N(1 << LW), .LOG(LW), .W(8)) wgt (
      .clk, .we(x_wen && x_wbuf == WGT), .wa(x_waddr[LW-1:0]), .wd(x_wval[7:0]),
      .ra(wgt_ra), .rd(wgt_rd));
  qw_ram #(.N(1 << LP), .LOG(LP), .W(32)) par (
      .clk, .we(x_wen && x_wbuf == PAR), .wa(x_waddr[LP-1:0]), .wd(x_wval),
      .ra(par_ra), .rd(par_rd));
  qw_ram #(.N(1 << LL), .LOG(LL), .W(32)) lut (
      .clk, .we(x_wen && x_wbuf > PAR), .wa(x_waddr[LL-1:0]), .wd(x_wval),
      .ra(lut_ra), .rd(lut_rd));
  // the accumulators: whichever unit runs
  logic acc_we;
  logic [LA-1:0] acc_wa, acc_ra;
  logic [ACC_BITS-1:0] acc_wd;
  always_comb begin
    if (op == GEMM) begin
      acc_we = g_awe;
      acc_wa = g_awa;
      acc_wd = g_awd;
      acc_ra = g_ara;
    end else if (op == LOAD || op == STORE) begin
      acc_we = x_wen && x_wbuf == ACC;
      acc_wa = x_waddr[LA-1:0];
      acc_wd = x_wval[ACC_BITS-1:0];
      acc_ra = x_raddr[LA-1:0];
    end else begin
      acc_we = p_awe;
      acc_wa = p_awa;
      acc_wd = p_awd;
      acc_ra = p_ara;
    end
  end
  qw_ram #(.N(1 << LA), .LOG(LA), .W(ACC_BITS)) acc (
      .clk, .we(acc_we), .wa(acc_wa), .wd(acc_wd), .ra(acc_ra), .rd(acc_rd));

  assign done = quick || x_done || g_done || p_done;
  // the queue a parallel controller would have run it on (config on load and compute)
  logic [2:0] queue;
  always_comb begin
    case (op)
      CONFIG: queue = 3'b011;
      LOAD: queue = insn[34:32] < 3'd2 ? 3'b001 : 3'b010;
      STORE: queue = 3'b100;
      SYNC: queue = insn[33:32] == 2'd0 ? 3'b001 : insn[33:32] == 2'd1 ? 3'b010 : 3'b100;
      default: queue = 3'b010;
    endcase
  end
  assign t_go = go ? queue : 3'b000;
  assign t_done = done ? queue : 3'b000;
endmodule

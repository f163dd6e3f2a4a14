// qw_core: the accelerator's datapath — the five memories (input ping-pong buffer, weight
// buffer, accumulators, parameters, activation table), the array (qw_gemm for bricks PEs,
// qw_gemm_dsp for DSP48E2 PEs when KPM > 0), the
// post-processing unit (qw_post) and the DRAM transfer engine (qw_xfer) — behind one port per
// queue. A queue raises `go` with an instruction and holds it until `done`; the controller
// (Calyx) decides when each queue may go. The three queues share the transfer engine, which
// serves one transfer at a time, in the order the requests come (load, compute, store on a
// tie). Operands sit one per byte slot of `inp` and `wgt` whatever the mode's width.
module qw_core #(
    parameter int ROWS = 8,
    parameter int COLS = 8,
    // an array of bricks PEs reads P, one of DSP PEs KPM and NPM (the other stays unused)
    /* verilator lint_off UNUSEDPARAM */
    parameter int P = 16,      // bricks PEs: products per PE in the narrowest mode
    parameter int KPM = 0,     // DSP PEs: the most weights, activations and lanes of any
    parameter int NPM = 0,     // packing they are built with (0: bricks PEs)
    /* verilator lint_on UNUSEDPARAM */
    parameter int L = 1,       // results per column and step
    parameter int ACC_BITS = 32,
    parameter int INP_N = 1024,
    parameter int WGT_N = 1024,
    parameter int ACC_N = 1024,
    parameter int PAR_N = 1024,
    parameter int LUT_N = 256,
    parameter int LANES = 8,
    parameter int BUS = 128,
    parameter int LOG_BUS = 7,
    parameter int V = 32
) (
    input  logic           clk,
    input  logic           reset,
    input  logic           lq_go,
    input  logic [511:0]   lq_insn,
    output logic           lq_done,
    input  logic           cq_go,
    input  logic [511:0]   cq_insn,
    output logic           cq_done,
    input  logic           sq_go,
    input  logic [511:0]   sq_insn,
    output logic           sq_done,
    output logic           m_rreq,
    output logic [31:0]    m_raddr,
    input  logic           m_rvalid,
    input  logic [BUS-1:0] m_rdata,
    output logic           m_wreq,
    output logic [31:0]    m_waddr,
    output logic [BUS-1:0] m_wdata,
    output logic [BUS-1:0] m_wmask,
    input  logic           m_wack,
    // each queue's go and done, for the testbench's per-instruction timing
    output logic [2:0]     t_go,
    output logic [2:0]     t_done
);
  localparam logic [7:0] CONFIG = 1, LOAD = 2, GEMM = 3, STORE = 10;
  localparam logic [2:0] INP = 0, WGT = 1, ACC = 2, PAR = 3;  // else LUT

  logic [7:0] inp_mem [INP_N];
  logic [7:0] wgt_mem [WGT_N];
  logic signed [ACC_BITS-1:0] acc_mem [ACC_N];
  logic signed [63:0] par_mem [PAR_N];
  logic signed [31:0] lut_mem [LUT_N];

  // the compute queue's mode
  logic [3:0] cfg_w, cfg_a;
  logic [1:0] cfg_wfmt, cfg_afmt;
  logic [5:0] cfg_acc_bits;
  logic cfg_xnor;
  logic [39:0] cfg_pe;  // the packing fields: pack, kp, np, lane, wport

  wire [7:0] lq_op = lq_insn[7:0];
  wire [7:0] cq_op = cq_insn[7:0];
  wire [7:0] sq_op = sq_insn[7:0];
  wire lq_xfer = lq_go && lq_op == LOAD;
  wire cq_xfer = cq_go && cq_op == LOAD;
  wire sq_xfer = sq_go && sq_op == STORE;
  wire cq_gemm = cq_go && cq_op == GEMM;
  wire cq_post = cq_go && cq_op >= 8'd4 && cq_op <= 8'd9;

  // the transfer engine and who holds it
  logic [1:0] owner;  // 0 none, 1 load, 2 compute, 3 store
  logic x_done;
  logic [511:0] x_insn;
  always_comb begin
    case (owner)
      2'd1: x_insn = lq_insn;
      2'd2: x_insn = cq_insn;
      default: x_insn = sq_insn;
    endcase
  end
  logic [2:0] xw_buf;
  logic [V-1:0] xw_en;
  logic [31:0] xw_addr, xr_addr;
  logic signed [63:0] xw_val [V];
  logic signed [ACC_BITS-1:0] xr_val [V];
  always_comb for (int l = 0; l < V; l++) xr_val[l] = acc_mem[(xr_addr + 32'(l)) % ACC_N];
  qw_xfer #(.BUS(BUS), .LOG_BUS(LOG_BUS), .V(V), .ACC_BITS(ACC_BITS)) xfer (
      .clk, .reset, .go(owner != 0), .insn(x_insn), .done(x_done),
      .w_buf(xw_buf), .w_en(xw_en), .w_addr(xw_addr), .w_val(xw_val),
      .r_addr(xr_addr), .r_val(xr_val),
      .m_rreq, .m_raddr, .m_rvalid, .m_rdata, .m_wreq, .m_waddr, .m_wdata, .m_wmask, .m_wack);

  logic g_done;
  logic [COLS*L-1:0] ga_en;
  logic [31:0] ga_addr [COLS*L];
  logic signed [ACC_BITS-1:0] ga_val [COLS*L];
  if (KPM > 0) begin : dsp
    // the widths only matter to bricks PEs
    /* verilator lint_off UNUSEDSIGNAL */
    wire [7:0] unused_widths = {cfg_w, cfg_a};
    wire unused_xnor = cfg_xnor;
    /* verilator lint_on UNUSEDSIGNAL */
    qw_gemm_dsp #(.ROWS(ROWS), .COLS(COLS), .KPM(KPM), .NPM(NPM), .L(L), .ACC_BITS(ACC_BITS),
                  .INP_N(INP_N), .WGT_N(WGT_N), .ACC_N(ACC_N)) gemm (
        .clk, .reset, .go(cq_gemm), .insn(cq_insn), .done(g_done),
        .cfg_wfmt, .cfg_afmt, .cfg_acc_bits, .cfg_pe,
        .inp_mem, .wgt_mem, .acc_mem, .a_en(ga_en), .a_addr(ga_addr), .a_val(ga_val));
  end else begin : bricks
    // the packing fields besides xnor only matter to DSP PEs
    /* verilator lint_off UNUSEDSIGNAL */
    wire [39:0] unused_pe = cfg_pe;
    /* verilator lint_on UNUSEDSIGNAL */
    qw_gemm #(.ROWS(ROWS), .COLS(COLS), .P(P), .ACC_BITS(ACC_BITS), .INP_N(INP_N),
              .WGT_N(WGT_N), .ACC_N(ACC_N)) gemm (
        .clk, .reset, .go(cq_gemm), .insn(cq_insn), .done(g_done),
        .cfg_w, .cfg_a, .cfg_wfmt, .cfg_afmt, .cfg_acc_bits, .cfg_xnor,
        .inp_mem, .wgt_mem, .acc_mem, .a_en(ga_en), .a_addr(ga_addr), .a_val(ga_val));
  end

  logic p_done;
  logic [LANES-1:0] pa_en;
  logic [31:0] pa_addr [LANES];
  logic signed [ACC_BITS-1:0] pa_val [LANES];
  qw_post #(.LANES(LANES), .ACC_BITS(ACC_BITS), .ACC_N(ACC_N), .PAR_N(PAR_N), .LUT_N(LUT_N)) post (
      .clk, .reset, .go(cq_post), .insn(cq_insn), .done(p_done), .cfg_acc_bits,
      .acc_mem, .par_mem, .lut_mem, .a_en(pa_en), .a_addr(pa_addr), .a_val(pa_val));

  // instructions that finish in one cycle: config, sync, end
  logic lq_quick, cq_quick, sq_quick;
  always_ff @(posedge clk) begin
    if (reset) begin
      owner <= 0;
      lq_quick <= 0;
      cq_quick <= 0;
      sq_quick <= 0;
    end else begin
      lq_quick <= lq_go && !lq_xfer && !lq_quick;
      cq_quick <= cq_go && !cq_xfer && !cq_gemm && !cq_post && !cq_quick;
      sq_quick <= sq_go && !sq_xfer && !sq_quick;
      if (cq_go && cq_op == CONFIG && !cq_quick) begin
        cfg_w <= cq_insn[35:32];
        cfg_a <= cq_insn[43:40];
        cfg_wfmt <= cq_insn[49:48];
        cfg_afmt <= cq_insn[57:56];
        cfg_acc_bits <= cq_insn[69:64];
        cfg_xnor <= cq_insn[79:72] == 8'd1;
        cfg_pe <= cq_insn[111:72];
      end
      if (owner == 0 && !x_done) begin
        if (lq_xfer) owner <= 2'd1;
        else if (cq_xfer) owner <= 2'd2;
        else if (sq_xfer) owner <= 2'd3;
      end else if (x_done) owner <= 0;
    end
  end
  assign lq_done = lq_quick || (x_done && owner == 2'd1);
  assign cq_done = cq_quick || (x_done && owner == 2'd2) || g_done || p_done;
  assign sq_done = sq_quick || (x_done && owner == 2'd3);
  assign t_go = {sq_go, cq_go, lq_go};
  assign t_done = {sq_done, cq_done, lq_done};

  // memory writes, one block per write port (the program's tokens keep the units of different
  // queues off each other's entries, so no two ports write one entry in a cycle)
  for (genvar l = 0; l < V; l++) begin : xfer_port
    always_ff @(posedge clk) begin
      if (xw_en[l]) begin
        case (xw_buf)
          INP: inp_mem[(xw_addr + 32'(l)) % INP_N] <= xw_val[l][7:0];
          WGT: wgt_mem[(xw_addr + 32'(l)) % WGT_N] <= xw_val[l][7:0];
          ACC: acc_mem[(xw_addr + 32'(l)) % ACC_N] <= ACC_BITS'(xw_val[l]);
          PAR: par_mem[(xw_addr + 32'(l)) % PAR_N] <= xw_val[l];
          default: lut_mem[(xw_addr + 32'(l)) % LUT_N] <= xw_val[l][31:0];
        endcase
      end
    end
  end
  for (genvar k = 0; k < COLS*L; k++) begin : gemm_port
    always_ff @(posedge clk) if (ga_en[k]) acc_mem[ga_addr[k] % ACC_N] <= ga_val[k];
  end
  for (genvar l = 0; l < LANES; l++) begin : post_port
    always_ff @(posedge clk) if (pa_en[l]) acc_mem[pa_addr[l] % ACC_N] <= pa_val[l];
  end
endmodule

// qw_gemm: `gemm` (docs/isa.md) on a ROWS x COLS array of bricks PEs, one step a cycle.
//
// A step is one output pixel of one fold: column c computes filter `mf*COLS + c`, and row r
// the reduction indices `kf*ROWS*p + r*p + q` (q < p, the mode's products per PE, on the
// PE's operand slots 0..p-1 of P), so a gemm takes groups x ceil(m/COLS) x ceil(K/(ROWS*p))
// x oh x ow steps, pixels innermost. Each lane
// keeps its reduction index as (channel, kernel row, kernel column) and steps it by ROWS*p in
// mixed radix at each fold. The pipeline: addresses, the 2-stage input buffer (operands read,
// then held in front of the array), the PEs, each column's adder tree, and the partial-sum
// sorter, which adds a column's sum to its accumulator and writes it back in the same cycle,
// so consecutive folds of one output never stall.
module qw_gemm #(
    parameter int ROWS = 8,
    parameter int COLS = 8,
    parameter int P = 16,
    parameter int ACC_BITS = 32,
    parameter int INP_N = 1024,
    parameter int WGT_N = 1024,
    parameter int ACC_N = 1024
) (
    input  logic                       clk,
    input  logic                       reset,
    input  logic                       go,
    input  logic [511:0]               insn,
    output logic                       done,
    // the compute queue's mode
    input  logic [3:0]                 cfg_w,
    input  logic [3:0]                 cfg_a,
    input  logic [1:0]                 cfg_wfmt,
    input  logic [1:0]                 cfg_afmt,
    input  logic [5:0]                 cfg_acc_bits,
    input  logic                       cfg_xnor,
    input  logic [7:0]                 inp_mem [INP_N],
    input  logic [7:0]                 wgt_mem [WGT_N],
    input  logic signed [ACC_BITS-1:0] acc_mem [ACC_N],
    output logic [COLS-1:0]            a_en,
    output logic [31:0]                a_addr [COLS],
    output logic signed [ACC_BITS-1:0] a_val [COLS]
);
  localparam int R = ROWS * P;
  localparam int DEPTH = 4;  // registers from the step counters to the column sums
  localparam int SUM = 48;

  logic [511:0] I;  // the instruction, latched
  logic setup, issuing;
  logic [31:0] f_inp, f_wgt, f_acc;
  logic [15:0] groups, cin, ih, iw, m, oh, ow;
  logic [7:0] kh, kw, sh, sw, dh, dw_;
  logic reset_sums;
  qw_gemm_insn fields (.I, .f_inp, .f_wgt, .f_acc, .groups, .cin, .ih, .iw, .m, .oh, .ow, .kh,
                       .kw, .sh, .sw, .dh, .dw(dw_), .reset_sums);

  // the mode
  wire [2:0] wd = 3'((cfg_w + 4'd1) >> 1);
  wire [2:0] ad = 3'((cfg_a + 4'd1) >> 1);
  wire [5:0] p = cfg_xnor ? 6'(16 / (32'(wd) * 32'(ad))) : 6'(16 / (32'(wd) * 32'(ad)));
  wire [31:0] taps = 32'(kh) * 32'(kw);
  wire [31:0] K = 32'(cin) * taps;
  wire [31:0] Rk = 32'(ROWS) * 32'(p);

  // lane l feeds product l mod P of PE row l / P: reduction index kf x Rk + kof(l), used
  // while l mod P < p
  function automatic logic [31:0] kof(input int l);
    return 32'(l / P) * 32'(p) + 32'(l % P);
  endfunction

  // step counters
  logic [15:0] g, mf, i, j;
  logic [31:0] kf_base;      // first reduction index of the fold
  logic [R-1:0][31:0] l_c;   // each lane's channel, kernel row and column
  logic [R-1:0][7:0]  l_y;
  logic [R-1:0][7:0]  l_x;
  logic [31:0] r_c;          // Rk in mixed radix
  logic [7:0]  r_y, r_x;

  wire last_j = j + 1 == ow;
  wire last_i = i + 1 == oh;
  wire last_k = kf_base + Rk >= K;
  wire last_m = (32'(mf) + 1) * COLS >= 32'(m);
  wire last_g = g + 1 == groups;

  // stage 0: addresses of this step's operands and outputs
  logic [31:0] ra [R];
  logic [31:0] rw [COLS][R];
  logic [R-1:0] live;
  logic [COLS-1:0] col_live;
  logic [COLS-1:0][31:0] out_addr;
  always_comb begin
    logic [31:0] plane, pix, o;
    plane = 32'(ih) * 32'(iw);
    pix = 32'(i) * 32'(sh) * 32'(iw) + 32'(j) * 32'(sw);
    for (int l = 0; l < R; l++) begin
      live[l] = issuing && (32'(l % P) < 32'(p)) && (kf_base + kof(l) < K);
      ra[l] = f_inp + 32'(g) * 32'(cin) * plane
            + (l_c[l] * 32'(ih) + 32'(l_y[l]) * 32'(dh)) * 32'(iw) + 32'(l_x[l]) * 32'(dw_) + pix;
    end
    for (int c = 0; c < COLS; c++) begin
      o = 32'(mf) * COLS + 32'(c);
      col_live[c] = issuing && o < 32'(m);
      out_addr[c] = f_acc + ((32'(g) * 32'(m) + o) * 32'(oh) + 32'(i)) * 32'(ow) + 32'(j);
      for (int l = 0; l < R; l++)
        rw[c][l] = f_wgt + (32'(g) * 32'(m) + o) * K + kf_base + kof(l);
    end
  end

  // stage 1: the first input stage reads the operands; stage 2 holds them for the array
  function automatic logic signed [8:0] operand(input logic [7:0] v, input logic [1:0] fmt);
    return fmt == 2'd1 ? $signed({1'b0, v}) : $signed({v[7], v});
  endfunction
  logic [R-1:0][8:0] a1, a2;
  logic [COLS-1:0][R-1:0][8:0] w1, w2;
  logic [R-1:0] live1, live2;
  logic [DEPTH-1:0][COLS-1:0] cl;
  logic [DEPTH-1:0][COLS-1:0][31:0] oa;
  logic [DEPTH-1:0] fresh;       // the fold's first: start from 0 when the gemm resets
  always_ff @(posedge clk) begin
    for (int l = 0; l < R; l++) begin
      a1[l] <= live[l] ? operand(inp_mem[ra[l] % INP_N], cfg_afmt) : 9'sd0;
      a2[l] <= a1[l];
      for (int c = 0; c < COLS; c++) begin
        w1[c][l] <= live[l] ? operand(wgt_mem[rw[c][l] % WGT_N], cfg_wfmt) : 9'sd0;
        w2[c][l] <= w1[c][l];
      end
    end
    live1 <= live;
    live2 <= live1;
    cl[0] <= col_live;
    oa[0] <= out_addr;
    fresh[0] <= reset_sums && kf_base == 0;
    for (int s = 1; s < DEPTH; s++) begin
      cl[s] <= cl[s-1];
      oa[s] <= oa[s-1];
      fresh[s] <= fresh[s-1];
    end
  end

  // stage 3: the array
  logic signed [31:0] pe_sum [ROWS][COLS];
  logic [3:0] route_q [16];
  logic [1:0] route_i [16], route_j [16];
  logic [15:0] route_on;
  qw_brick_routes routes (.dw(wd), .da(ad), .route_q, .route_i, .route_j, .route_on);
  for (genvar r = 0; r < ROWS; r++) begin : row
    for (genvar c = 0; c < COLS; c++) begin : col
      logic signed [8:0] pw [P], pa [P];
      logic [P-1:0] pl;
      always_comb begin
        for (int q = 0; q < P; q++) begin
          pw[q] = $signed(w2[c][r*P + q]);
          pa[q] = $signed(a2[r*P + q]);
          pl[q] = live2[r*P + q];
        end
      end
      qw_spe #(.P(P), .OUT(32)) pe (
          .clk(clk), .en(1'b1), .dw(wd), .da(ad), .route_q, .route_i, .route_j, .route_on,
          .w_signed(cfg_wfmt != 2'd1), .a_signed(cfg_afmt != 2'd1), .xnor_mode(cfg_xnor),
          .live(pl), .w(pw), .a(pa), .sum(pe_sum[r][c]));
    end
  end

  // stage 4: each column's adder tree
  logic signed [SUM-1:0] col_sum [COLS];
  always_ff @(posedge clk) begin
    for (int c = 0; c < COLS; c++) begin
      logic signed [SUM-1:0] s;
      s = 0;
      for (int r = 0; r < ROWS; r++) s = s + SUM'(pe_sum[r][c]);
      col_sum[c] <= s;
    end
  end

  // stage 5: the partial-sum sorter
  function automatic logic signed [ACC_BITS-1:0] wrap(input logic signed [SUM-1:0] v,
                                                      input logic [5:0] bits);
    logic [6:0] s;
    s = 7'(SUM) - 7'(bits);
    return ACC_BITS'((v <<< s) >>> s);
  endfunction
  always_comb begin
    for (int c = 0; c < COLS; c++) begin
      a_en[c] = cl[DEPTH-1][c];
      a_addr[c] = oa[DEPTH-1][c];
      a_val[c] = wrap((fresh[DEPTH-1] ? SUM'(0) : SUM'(acc_mem[oa[DEPTH-1][c] % ACC_N]))
                      + col_sum[c], cfg_acc_bits);
    end
  end

  // sequencing: qw_gemm_ctl latches the instruction and drains the pipeline; the step
  // counters are set in its setup cycle and stepped while it issues
  qw_gemm_ctl #(.DEPTH(DEPTH)) ctl (
      .clk, .reset, .go, .insn, .done, .I, .setup, .issuing,
      .empty(groups == 0 || m == 0 || oh == 0 || ow == 0 || K == 0),
      .last(last_j && last_i && last_k && last_m && last_g));
  always_ff @(posedge clk) begin
    if (setup) begin
      g <= 0;
      mf <= 0;
      i <= 0;
      j <= 0;
      kf_base <= 0;
      r_c <= Rk / taps;
      r_y <= 8'((Rk / 32'(kw)) % 32'(kh));
      r_x <= 8'(Rk % 32'(kw));
      for (int l = 0; l < R; l++) begin
        l_c[l] <= kof(l) / taps;
        l_y[l] <= 8'((kof(l) / 32'(kw)) % 32'(kh));
        l_x[l] <= 8'(kof(l) % 32'(kw));
      end
    end else if (issuing) begin
      j <= j + 1;
      if (last_j) begin
        j <= 0;
        i <= i + 1;
        if (last_i) begin
          i <= 0;
          // next fold of the reduction: every lane steps by Rk
          kf_base <= kf_base + Rk;
          for (int l = 0; l < R; l++) begin
            logic [8:0] x, y;
            logic [31:0] c;
            x = 9'(l_x[l]) + 9'(r_x);
            y = 9'(l_y[l]) + 9'(r_y);
            c = l_c[l] + r_c;
            if (x >= 9'(kw)) begin x = x - 9'(kw); y = y + 1; end
            if (y >= 9'(kh)) begin y = y - 9'(kh); c = c + 1; end
            l_x[l] <= 8'(x);
            l_y[l] <= 8'(y);
            l_c[l] <= c;
          end
          if (last_k) begin
            kf_base <= 0;
            for (int l = 0; l < R; l++) begin
              l_c[l] <= kof(l) / taps;
              l_y[l] <= 8'((kof(l) / 32'(kw)) % 32'(kh));
              l_x[l] <= 8'(kof(l) % 32'(kw));
            end
            mf <= mf + 1;
            if (last_m) begin
              mf <= 0;
              g <= g + 1;
            end
          end
        end
      end
    end
  end
endmodule

// qw_gemm_dsp: `gemm` (docs/isa.md) on a ROWS x COLS array of DSP48E2 PEs (qw_dsp_pe), one
// step a cycle, under the packing the last `config` names.
//
// Kernel packing (kp weights x np activations, one product per lane): row r takes reduction
// index `kf*ROWS + r`, column c the kp filters `(mf*COLS + c)*kp + j`, and a step the np
// neighbouring output pixels `x0 .. x0+np-1` of one output row; lane `j + i*kp` is filter j's
// product with pixel i. Steps: groups x ceil(m/(COLS*kp)) x ceil(K/ROWS) x oh x ceil(ow/np).
//
// Filter packing (kp taps of a kernel row over np neighbouring inputs, a polynomial
// product): row r takes a tap group `kf*ROWS + r` of the (channel, kernel row, group of kp
// taps) indices, column c filter `mf*COLS + c`; its weights go in reversed, so input window
// `x0 .. x0+np-1` makes kp+np-1 lanes and lane l is the row's share of output pixel
// `x0 + l - (kp-1)`: lanes below kp-1 finish the previous window's outputs, those past np-1
// start the next window's. An output row of ow pixels takes ceil((ow+kp-1)/np) windows.
// Steps: groups x ceil(m/COLS) x ceil(cin*kh*ceil(kw/kp)/ROWS) x oh x ceil((ow+kp-1)/np).
// The inputs a window reads are `(x0 + tap) * sw`, which is each tap's input when the stride
// equals the dilation along the row (the ISA requires it for filter packing).
//
// Each row keeps its reduction index as (channel, kernel row, kernel column or tap group) and
// steps it by ROWS in mixed radix at each fold. The pipeline is qw_gemm's: addresses, the
// 2-stage input buffer, the columns (qw_dsp_column: the PEs' products summed down the DSP
// cascade as far as the packing's accumulation depth allows, each group's lanes decoded and
// summed; the stage after it holds the sums, as the bricks array's adder trees do), and the
// partial-sum sorter, which adds each lane's sum to its accumulator
// and writes it back in the same cycle (so the lanes a window adds into the previous
// window's outputs, and consecutive folds, never stall). An output starts from zero on the
// first lane that reaches it in the first fold of a resetting gemm.
module qw_gemm_dsp #(
    parameter int ROWS = 16,
    parameter int COLS = 16,
    parameter int KPM = 3,     // the most weights of any packing the PE is built with
    parameter int NPM = 5,     // the most activations
    parameter int L = 15,      // the most lanes
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
    // the compute queue's mode: formats, width of the sums, and the packing fields
    input  logic [1:0]                 cfg_wfmt,
    input  logic [1:0]                 cfg_afmt,
    input  logic [5:0]                 cfg_acc_bits,
    input  logic [39:0]                cfg_pe,
    input  logic [7:0]                 inp_mem [INP_N],
    input  logic [7:0]                 wgt_mem [WGT_N],
    input  logic signed [ACC_BITS-1:0] acc_mem [ACC_N],
    output logic [COLS*L-1:0]          a_en,
    output logic [31:0]                a_addr [COLS*L],
    output logic signed [ACC_BITS-1:0] a_val [COLS*L]
);
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

  // the packing (the lane width and port only matter to the PEs)
  /* verilator lint_off UNUSEDSIGNAL */
  wire [39:0] pe_fields = cfg_pe;
  /* verilator lint_on UNUSEDSIGNAL */
  wire filt = pe_fields[7:0] == 8'd3;
  wire [31:0] kp = pe_fields[15:8] == 0 ? 32'd1 : 32'(pe_fields[15:8]);
  wire [31:0] np = pe_fields[23:16] == 0 ? 32'd1 : 32'(pe_fields[23:16]);
  wire [31:0] K = 32'(cin) * 32'(kh) * 32'(kw);
  wire [31:0] X = filt ? (32'(kw) + kp - 1) / kp : 32'(kw);  // the innermost radix
  wire [31:0] taps = 32'(kh) * X;
  wire [31:0] KR = 32'(cin) * taps;                          // indices the rows walk
  wire [31:0] lanes_on = filt ? kp + np - 1 : kp * np;
  wire [31:0] span = filt ? 32'(ow) + kp - 1 : 32'(ow);      // what an output row's windows cover

  // step counters
  logic [15:0] g, mf, i;
  logic [31:0] x0;           // the window's first pixel (kernel) or input (filter)
  logic [31:0] kf_base;      // the fold's first reduction index
  logic [ROWS-1:0][31:0] r_c;  // each row's channel, kernel row and column (or tap group)
  logic [ROWS-1:0][7:0]  r_y;
  logic [ROWS-1:0][7:0]  r_x;
  logic [31:0] s_c;          // ROWS in mixed radix
  logic [7:0]  s_y, s_x;

  wire last_x = x0 + np >= span;
  wire last_i = i + 1 == oh;
  wire last_k = kf_base + ROWS >= KR;
  wire last_m = (32'(mf) + 1) * COLS * (filt ? 32'd1 : kp) >= 32'(m);
  wire last_g = g + 1 == groups;

  // stage 0: addresses of this step's operands and outputs
  logic [31:0] ra [ROWS][NPM];
  logic [ROWS-1:0][NPM-1:0] a_live;
  logic [31:0] rw [COLS][ROWS][KPM];
  logic [COLS-1:0][ROWS-1:0][KPM-1:0] w_live;
  logic [COLS*L-1:0] o_live, o_fresh;
  logic [COLS*L-1:0][31:0] out_addr;
  // a weight's address is its column's part (filter and tap offset) plus its row's (the
  // reduction index), so the ROWS x COLS x KPM addresses are one add each
  logic [31:0] w_row [ROWS];
  logic [ROWS-1:0] row_live;
  logic [ROWS-1:0][KPM-1:0] tap_ok;
  logic [31:0] w_col [COLS][KPM];
  logic [COLS-1:0][KPM-1:0] col_live;
  always_comb begin
    logic [31:0] plane, base, row, t, x, o, tap;
    plane = 32'(ih) * 32'(iw);
    base = f_acc + 32'(g) * 32'(m) * 32'(oh) * 32'(ow);
    for (int r = 0; r < ROWS; r++) begin
      t = kf_base + 32'(r);
      row_live[r] = issuing && t < KR;
      row = f_inp + (32'(g) * 32'(cin) + r_c[r]) * plane
          + (32'(i) * 32'(sh) + 32'(r_y[r]) * 32'(dh)) * 32'(iw);
      for (int n = 0; n < NPM; n++) begin
        if (filt) begin
          x = (x0 + 32'(r_x[r]) * kp + 32'(n)) * 32'(sw);
          a_live[r][n] = row_live[r] && 32'(n) < np && x < 32'(iw);
          ra[r][n] = row + x;
        end else begin
          x = x0 + 32'(n);
          a_live[r][n] = row_live[r] && 32'(n) < np && x < 32'(ow);
          ra[r][n] = row + x * 32'(sw) + 32'(r_x[r]) * 32'(dw_);
        end
      end
      // filter: weight j of the row's tap group is tap r_x*kp + kp-1-j (reversed); kernel:
      // every weight is at reduction index t
      tap = 32'(r_x[r]) * kp + kp - 1;
      w_row[r] = filt ? (r_c[r] * 32'(kh) + 32'(r_y[r])) * 32'(kw) + tap : t;
      for (int j = 0; j < KPM; j++) tap_ok[r][j] = !filt || tap - 32'(j) < 32'(kw);
    end
    // filter: column c holds filter mf*COLS + c; kernel: filters (mf*COLS + c)*kp + j
    for (int c = 0; c < COLS; c++) begin
      for (int j = 0; j < KPM; j++) begin
        o = filt ? 32'(mf) * COLS + 32'(c) : (32'(mf) * COLS + 32'(c)) * kp + 32'(j);
        col_live[c][j] = 32'(j) < kp && o < 32'(m);
        w_col[c][j] = f_wgt + (32'(g) * 32'(m) + o) * K - (filt ? 32'(j) : 32'd0);
      end
    end
    for (int c = 0; c < COLS; c++) begin
      for (int r = 0; r < ROWS; r++) begin
        for (int j = 0; j < KPM; j++) begin
          w_live[c][r][j] = row_live[r] && col_live[c][j] && tap_ok[r][j];
          rw[c][r][j] = w_col[c][j] + w_row[r];
        end
      end
    end
    for (int c = 0; c < COLS; c++) begin
      for (int l = 0; l < L; l++) begin
        if (filt) begin
          o = 32'(mf) * COLS + 32'(c);
          x = x0 + 32'(l) - (kp - 1);
          o_live[c*L + l] = issuing && 32'(l) < lanes_on && x0 + 32'(l) >= kp - 1
                          && x < 32'(ow) && o < 32'(m);
          o_fresh[c*L + l] = reset_sums && kf_base == 0 && 32'(l) >= kp - 1;
        end else begin
          o = (32'(mf) * COLS + 32'(c)) * kp + 32'(l) % kp;
          x = x0 + 32'(l) / kp;
          o_live[c*L + l] = issuing && 32'(l) < lanes_on && x < 32'(ow) && o < 32'(m);
          o_fresh[c*L + l] = reset_sums && kf_base == 0;
        end
        out_addr[c*L + l] = base + (o * 32'(oh) + 32'(i)) * 32'(ow) + x;
      end
    end
  end

  // stage 1: the first input stage reads the operands; stage 2 holds them for the array
  function automatic logic signed [8:0] operand(input logic [7:0] v, input logic [1:0] fmt);
    return fmt == 2'd1 ? $signed({1'b0, v}) : $signed({v[7], v});
  endfunction
  logic [ROWS-1:0][NPM-1:0][8:0] a1, a2;
  logic [COLS-1:0][ROWS-1:0][KPM-1:0][8:0] w1, w2;
  logic [DEPTH-1:0][COLS*L-1:0] ol, of;
  logic [DEPTH-1:0][COLS*L-1:0][31:0] oa;
  always_ff @(posedge clk) begin
    for (int r = 0; r < ROWS; r++) begin
      for (int n = 0; n < NPM; n++)
        a1[r][n] <= a_live[r][n] ? operand(inp_mem[ra[r][n] % INP_N], cfg_afmt) : 9'sd0;
      for (int c = 0; c < COLS; c++)
        for (int j = 0; j < KPM; j++)
          w1[c][r][j] <= w_live[c][r][j] ? operand(wgt_mem[rw[c][r][j] % WGT_N], cfg_wfmt)
                                         : 9'sd0;
    end
    a2 <= a1;
    w2 <= w1;
    ol[0] <= o_live;
    of[0] <= o_fresh;
    oa[0] <= out_addr;
    for (int s = 1; s < DEPTH; s++) begin
      ol[s] <= ol[s-1];
      of[s] <= of[s-1];
      oa[s] <= oa[s-1];
    end
  end

  // stage 3: each column's PEs down their cascade, a group of the packing's depth decoded at
  // its last row, the lanes summed over the groups (qw_dsp_column); stage 4 holds the sums
  // (each row's activations are packed once, for all its PEs: qw_dsp_row)
  logic [ROWS-1:0][26:0] act;
  for (genvar r = 0; r < ROWS; r++) begin : row
    qw_dsp_row packer (.cfg(cfg_pe), .a(a2[r]), .act(act[r]));
  end
  logic [L*48-1:0] col_lanes [COLS];
  logic signed [SUM-1:0] col_sum [COLS*L];
  for (genvar c = 0; c < COLS; c++) begin : col
    logic [L*48-1:0] sums;
    qw_dsp_column column (.cfg(cfg_pe), .w(w2[c]), .act, .sums);
    always_ff @(posedge clk) col_lanes[c] <= sums;
    for (genvar l = 0; l < L; l++) begin : lane
      always_ff @(posedge clk) col_sum[c*L + l] <= $signed(col_lanes[c][48*l +: 48]);
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
    for (int k = 0; k < COLS*L; k++) begin
      a_en[k] = ol[DEPTH-1][k];
      a_addr[k] = oa[DEPTH-1][k];
      a_val[k] = wrap((of[DEPTH-1][k] ? SUM'(0) : SUM'(acc_mem[oa[DEPTH-1][k] % ACC_N]))
                      + col_sum[k], cfg_acc_bits);
    end
  end

  // sequencing: qw_gemm_ctl latches the instruction and drains the pipeline; the step
  // counters are set in its setup cycle and stepped while it issues
  qw_gemm_ctl #(.DEPTH(DEPTH)) ctl (
      .clk, .reset, .go, .insn, .done, .I, .setup, .issuing,
      .empty(groups == 0 || m == 0 || oh == 0 || ow == 0 || K == 0),
      .last(last_x && last_i && last_k && last_m && last_g));
  always_ff @(posedge clk) begin
    if (setup) begin
      g <= 0;
      mf <= 0;
      i <= 0;
      x0 <= 0;
      kf_base <= 0;
      s_c <= ROWS / taps;
      s_y <= 8'((ROWS / X) % 32'(kh));
      s_x <= 8'(ROWS % X);
      for (int r = 0; r < ROWS; r++) begin
        r_c[r] <= r / taps;
        r_y[r] <= 8'((r / X) % 32'(kh));
        r_x[r] <= 8'(r % X);
      end
    end else if (issuing) begin
      x0 <= x0 + np;
      if (last_x) begin
        x0 <= 0;
        i <= i + 1;
        if (last_i) begin
          i <= 0;
          // next fold of the reduction: every row steps by ROWS
          kf_base <= kf_base + ROWS;
          for (int r = 0; r < ROWS; r++) begin
            logic [8:0] x, y;
            logic [31:0] c;
            x = 9'(r_x[r]) + 9'(s_x);
            y = 9'(r_y[r]) + 9'(s_y);
            c = r_c[r] + s_c;
            if (32'(x) >= X) begin x = x - 9'(X); y = y + 1; end
            if (y >= 9'(kh)) begin y = y - 9'(kh); c = c + 1; end
            r_x[r] <= 8'(x);
            r_y[r] <= 8'(y);
            r_c[r] <= c;
          end
          if (last_k) begin
            kf_base <= 0;
            for (int r = 0; r < ROWS; r++) begin
              r_c[r] <= r / taps;
              r_y[r] <= 8'((r / X) % 32'(kh));
              r_x[r] <= 8'(r % X);
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

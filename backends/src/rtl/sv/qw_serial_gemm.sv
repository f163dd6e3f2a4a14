// qw_serial_gemm: `gemm` (docs/isa.md) on the serial datapath's column of ROWS multipliers,
// output-stationary: the rows take ROWS neighbouring output pixels of one filter and share
// its weight, so each step reads one weight and ROWS inputs (the input memory is ROWS copies)
// and adds one product into each row's sum. A group of pixels takes the filter's K =
// cin x kh x kw steps; its sums then go to a shadow bank that a write-back adds into the
// accumulators (one a cycle, read and written back, or written when the gemm resets them)
// while the next group runs. Order: groups, filters, output rows, groups of ROWS pixels,
// then the reduction (channel, kernel row, kernel column). Setup computes the tile's products
// with one shared multiplier; every address is then kept with adds by three walks (qw_walk),
// which the core shares with the post-processing unit: `walks` drives them, each
// {xs, ys, zs, x, y, z, base, step, start} (WB bits), and `walked` returns each
// {last, on, at}.
module qw_serial_gemm #(
    parameter int ROWS = 4,       // a power of two
    parameter int LOG_ROWS = 2,
    parameter int PAIRED = 0,     // 1: rows two to a DSP48E2 multiply (qw_dsp_pair)
    parameter int ACC_BITS = 32,
    parameter int LI = 10,        // address bits of the input, weight and accumulator memories
    parameter int LW = 10,
    parameter int LA = 10,
    parameter int AW = 10,        // bits the walks keep of an address (the widest memory's)
    parameter int CW = 11,        // and of a count (no dimension reaches 2^CW entries)
    parameter int WB = 2 + 4 * AW + 3 * CW
) (
    input  logic                     clk,
    input  logic                     reset,
    input  logic                     go,
    // held while `go`; holds other opcodes' fields too
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic [511:0]             insn,
    /* verilator lint_on UNUSEDSIGNAL */
    output logic                     done,
    input  logic [1:0]               cfg_wfmt,
    input  logic [1:0]               cfg_afmt,
    input  logic [5:0]               cfg_acc_bits,
    output logic [ROWS*LI-1:0]       inp_ra,   // row r reads its copy at inp_ra[r*LI +: LI]
    input  logic [ROWS*8-1:0]        inp_rd,
    output logic [LW-1:0]            wgt_ra,
    input  logic [7:0]               wgt_rd,
    output logic [LA-1:0]            acc_ra,
    input  logic [ACC_BITS-1:0]      acc_rd,
    output logic                     acc_we,
    output logic [LA-1:0]            acc_wa,
    output logic [ACC_BITS-1:0]      acc_wd,
    output logic [3*WB-1:0]          walks,
    input  logic [3*(AW+2)-1:0]      walked
);
  localparam logic [CW-1:0] RC = CW'(ROWS);
  localparam logic [LOG_ROWS:0] RN = ROWS[LOG_ROWS:0];

  // ---- fields: addresses and their products modulo 2^AW (the widest memory's), counts
  // to CW bits (every dimension is below 2^CW: the ISA simulator holds gemms to the memories)
  wire [AW-1:0] f_inp = insn[8*4 +: AW], f_wgt = insn[8*8 +: AW], f_acc = insn[8*12 +: AW];
  wire [CW-1:0] groups = insn[8*16 +: CW], cin = insn[8*18 +: CW], m = insn[8*24 +: CW];
  wire [CW-1:0] oh = insn[8*26 +: CW], ow = insn[8*28 +: CW];
  wire [AW-1:0] ih = insn[8*20 +: AW], iw = insn[8*22 +: AW];
  wire [7:0] kh = insn[8*30 +: 8], kw = insn[8*31 +: 8], sh = insn[8*32 +: 8];
  wire [7:0] sw = insn[8*33 +: 8], dh = insn[8*34 +: 8], dw = insn[8*35 +: 8];
  wire reset_sums = insn[8*36];
  wire empty = insn[8*16 +: 16] == 0 || insn[8*24 +: 16] == 0 || insn[8*26 +: 16] == 0
            || insn[8*28 +: 16] == 0 || insn[8*18 +: 16] == 0 || kh == 0 || kw == 0;
  // groups of ROWS pixels per output row
  wire [CW-1:0] ngroups = (ow + RC - CW'(1)) >> LOG_ROWS;

  // ---- setup: the tile's products, one a cycle on one multiplier ----
  logic busy, setup, issuing;
  logic [2:0] sstep;
  logic [AW-1:0] plane, dhiw, shiw, cinplane, khkw, kk, ohow;
  logic [AW-1:0] ma, mb;
  always_comb begin
    case (sstep)
      3'd0: begin ma = ih; mb = iw; end
      3'd1: begin ma = AW'(dh); mb = iw; end
      3'd2: begin ma = AW'(sh); mb = iw; end
      3'd3: begin ma = AW'(cin); mb = plane; end
      3'd4: begin ma = AW'(kh); mb = AW'(kw); end
      3'd5: begin ma = AW'(cin); mb = khkw; end
      default: begin ma = AW'(oh); mb = AW'(ow); end
    endcase
  end
  // (16 x 16 bits, so that yosys gives it an SB_MAC16 rather than LUTs)
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] prod16 = {{(16-AW){1'b0}}, ma} * {{(16-AW){1'b0}}, mb};
  /* verilator lint_on UNUSEDSIGNAL */
  wire [AW-1:0] prod = prod16[AW-1:0];
  always_ff @(posedge clk) begin
    if (setup) begin
      case (sstep)
        3'd0: plane <= prod;
        3'd1: dhiw <= prod;
        3'd2: shiw <= prod;
        3'd3: cinplane <= prod;
        3'd4: khkw <= prod;
        3'd5: kk <= prod;
        default: ohow <= prod;
      endcase
    end
  end
  wire setup_end = setup && sstep == 3'd6;

  // ---- the walks ----
  logic [AW-1:0] gbase, obase, fbase, wptr;
  logic [CW-1:0] g, o, j0;
  logic t_last, p_last, s_first;
  // the walks end together with the issue, which counts filters and groups itself
  /* verilator lint_off UNUSEDSIGNAL */
  logic t_on, p_on, o_on, o_last;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [LOG_ROWS:0] wb_rd;          // shadow rows the write-back has still to read
  logic s1, s1_last;
  // a group's last step waits until the write-back has read the shadow bank by the time
  // the step's sums replace it
  wire hold = t_last && (s1 && s1_last ? ROWS > 1 : 32'(wb_rd) > 32'd2);
  wire step = issuing && !hold;
  wire f_last = t_last && p_last;       // the filter's last step
  wire o_wrap = f_last && o + CW'(1) == m;
  wire [AW-1:0] next_gbase = o_wrap ? gbase + cinplane : gbase;
  wire [AW-1:0] next_obase = obase + ohow;
  wire t_start = setup_end || (step && t_last);
  wire p_start = setup_end || (step && f_last);
  // the reduction: channel, kernel row and column
  // (addresses kept to the widest memory's bits)
  logic [AW-1:0] red, pix, out;
  wire [AW-1:0] sw_rows = AW'(sw) << LOG_ROWS;
  assign walks[0 +: WB] = {AW'(dw), dhiw, plane, CW'(kw), CW'(kh), cin, AW'(0), step, t_start};
  assign {t_last, t_on, red} = walked[0 +: AW + 2];
  // the pixel groups of the filter: their first input and output
  assign walks[WB +: WB] = {sw_rows, shiw, AW'(0), ngroups, oh, CW'(1),
                            setup ? f_inp : next_gbase, step && t_last, p_start};
  assign {p_last, p_on, pix} = walked[AW + 2 +: AW + 2];
  assign walks[2*WB +: WB] = {AW'(ROWS), AW'(ow), AW'(0), ngroups, oh, CW'(1),
                              setup ? f_acc : next_obase, step && t_last, p_start};
  assign {o_last, o_on, out} = walked[2*(AW + 2) +: AW + 2];
  always_comb begin
    logic [AW-1:0] a;
    a = pix + red;
    for (int r = 0; r < ROWS; r++) begin
      inp_ra[r*LI +: LI] = a[LI-1:0];
      a = a + AW'(sw);
    end
  end
  assign wgt_ra = wptr[LW-1:0];

  // ---- sequencing ----
  logic wb_write;
  always_ff @(posedge clk) begin
    done <= 0;
    if (reset) begin
      busy <= 0;
      setup <= 0;
      issuing <= 0;
    end else if (!busy) begin
      if (go && !done) begin
        busy <= 1;
        setup <= 1;
        sstep <= 0;
      end
    end else if (setup) begin
      sstep <= sstep + 3'd1;
      if (setup_end) begin
        setup <= 0;
        issuing <= !empty;
        gbase <= f_inp;
        obase <= f_acc;
        fbase <= f_wgt;
        wptr <= f_wgt;
        {g, o, j0} <= '0;
        s_first <= 1;
      end
    end else begin
      if (step) begin
        wptr <= wptr + AW'(1);
        s_first <= t_last;
        if (t_last) begin
          wptr <= fbase;
          j0 <= j0 + RC >= ow ? CW'(0) : j0 + RC;
        end
        if (f_last) begin
          o <= o + CW'(1);
          fbase <= fbase + kk;
          wptr <= fbase + kk;
          obase <= next_obase;
          if (o_wrap) begin
            o <= 0;
            g <= g + CW'(1);
            gbase <= next_gbase;
            if (g + CW'(1) == groups) issuing <= 0;
          end
        end
      end
      if (!issuing && !s1 && wb_rd == 0 && !wb_write) begin
        busy <= 0;
        done <= 1;
      end
    end
  end

  // ---- the array: operands a cycle after their addresses, sums a cycle later ----
  function automatic logic signed [8:0] operand(input logic [7:0] v, input logic [1:0] fmt);
    operand = fmt == 2'd1 ? {1'b0, v} : {v[7], v};
  endfunction
  logic s1_first;                    // stage 1: the step's operands are in the RAMs' outputs
  logic [AW-1:0] s1_out;
  logic [CW-1:0] s1_j0;
  logic [ROWS*ACC_BITS-1:0] sums, shadow;
  // each row's product: its own multiply, or two rows to a DSP48E2 (qw_dsp_pair)
  logic [ROWS*18-1:0] row_prod;
  wire signed [8:0] w_op = operand(wgt_rd, cfg_wfmt);
  if (PAIRED != 0) begin : pairs
    for (genvar r = 0; r < ROWS; r = r + 2) begin : pair
      qw_dsp_pair mul (.a_lo(operand(inp_rd[r*8 +: 8], cfg_afmt)),
                       .a_hi(operand(inp_rd[(r+1)*8 +: 8], cfg_afmt)), .w(w_op),
                       .p_lo(row_prod[r*18 +: 18]), .p_hi(row_prod[(r+1)*18 +: 18]));
    end
  end else begin : rows
    for (genvar r = 0; r < ROWS; r++) begin : row
      wire signed [17:0] p = operand(inp_rd[r*8 +: 8], cfg_afmt) * w_op;
      assign row_prod[r*18 +: 18] = p;
    end
  end
  always_ff @(posedge clk) begin
    s1 <= step;
    s1_first <= s_first;
    s1_last <= t_last;
    s1_out <= out;
    s1_j0 <= j0;
    if (s1) begin
      for (int r = 0; r < ROWS; r++) begin
        logic signed [17:0] p;
        logic [ACC_BITS-1:0] s;
        p = row_prod[r*18 +: 18];
        s = (s1_first ? {ACC_BITS{1'b0}} : sums[r*ACC_BITS +: ACC_BITS])
          + {{(ACC_BITS-18){p[17]}}, p};
        sums[r*ACC_BITS +: ACC_BITS] <= s;
        if (s1_last) shadow[r*ACC_BITS +: ACC_BITS] <= s;
      end
    end
    if (!(s1 && s1_last) && wb_rd != 0) shadow <= shadow >> ACC_BITS;
  end

  // ---- write-back: each row's sum read, added and written a cycle later ----
  wire wb_start = s1 && s1_last;
  logic [AW-1:0] wb_addr;            // the row's output
  logic [CW-1:0] wb_pix;             // and pixel
  logic [LA-1:0] wb_wa;
  logic [ACC_BITS-1:0] wb_sum;
  // sign-extend the low cfg_acc_bits bits
  function automatic logic [ACC_BITS-1:0] wrap(input logic [ACC_BITS-1:0] v,
                                               input logic [5:0] bits);
    logic [ACC_BITS-1:0] keep;
    keep = ~({ACC_BITS{1'b1}} << bits);
    wrap = (v & keep) | (v[5'(bits - 6'd1)] ? ~keep : {ACC_BITS{1'b0}});
  endfunction
  assign acc_ra = wb_addr[LA-1:0];
  assign acc_we = wb_write;
  assign acc_wa = wb_wa;
  assign acc_wd = wrap((reset_sums ? {ACC_BITS{1'b0}} : acc_rd) + wb_sum, cfg_acc_bits);
  always_ff @(posedge clk) begin
    wb_write <= 0;
    if (wb_rd != 0) begin
      wb_wa <= wb_addr[LA-1:0];
      wb_sum <= shadow[ACC_BITS-1:0];
      wb_write <= wb_pix < ow;
      wb_addr <= wb_addr + AW'(1);
      wb_pix <= wb_pix + CW'(1);
    end
    if (reset || !busy) wb_rd <= 0;
    else if (wb_start) begin
      wb_rd <= RN;
      wb_addr <= s1_out;
      wb_pix <= s1_j0;
    end else if (wb_rd != 0) wb_rd <= wb_rd - 1'b1;
  end
endmodule

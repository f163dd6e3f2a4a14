// qw_serial_xfer: the serial datapath's DRAM transfer engine: one `load` or `store`
// (docs/isa.md) at a time, one buffer entry a cycle, on a 32-bit DRAM bus.
//
// Setup multiplies the three strides by the value width (shift and add, 7 cycles). A load then
// runs two walks. The request walk (qw_walk) visits its values in order (plane, row, column)
// and asks DRAM for every beat a value needs that is not the beat it asked for last, and
// queues for each value where it lies: its bit within the beat, whether its first beat is a
// new one, and whether it has a second. The destination walk visits every entry of the padded
// block, one a cycle, and writes it: `fill` where padded, else the next queued value, taken
// from the beats (which come back in the order asked, qw_beats), extended by `fmt`, minus
// `offset`. A value whose two beats are both new takes a second cycle. A store walks the
// accumulators with the same walk, reads one a cycle, and writes each value into the beat it
// lies in under a mask of its bits (a value across two beats takes two writes, two cycles);
// it finishes when DRAM has acknowledged every write.
//
// DRAM is 128 KiB (the UP5K's four SPRAMs; the ISA simulator refuses a larger image on the
// serial datapath), so bit addresses are 20 bits and beat addresses 15; a stride is kept
// modulo 2^20, which leaves every address in DRAM exact.
module qw_serial_xfer #(
    parameter int ACC_BITS = 32,
    parameter int AW = 10,        // bits of a buffer address (the widest memory's)
    parameter int CW = 11         // bits of a count (no dimension reaches 2^CW entries)
) (
    input  logic                clk,
    input  logic                reset,
    input  logic                go,
    // held while `go`; holds other opcodes' fields too
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic [511:0]        insn,
    /* verilator lint_on UNUSEDSIGNAL */
    output logic                done,
    // a load's writes: entry w_addr of buffer w_buf (docs/isa.md's numbering)
    output logic                w_en,
    output logic [2:0]          w_buf,
    output logic [15:0]         w_addr,
    output logic [31:0]         w_val,   // (it fits 32 bits: the ISA simulator checks)
    // a store's reads: accumulator r_addr, its value in r_val the next cycle
    output logic [15:0]         r_addr,
    input  logic [ACC_BITS-1:0] r_val,
    // DRAM, in beats of 32 bits: reads answered in order; a write is taken in a cycle with
    // m_wready (the board's memory holds one back while it reads a word to merge into) and
    // acknowledged
    output logic                m_rreq,
    output logic [31:0]         m_raddr,
    input  logic                m_rvalid,
    input  logic [31:0]         m_rdata,
    output logic                m_wreq,
    output logic [31:0]         m_waddr,
    output logic [31:0]         m_wdata,
    output logic [31:0]         m_wmask,
    input  logic                m_wready,
    input  logic                m_wack
);
  localparam int A = 20;      // bits of a DRAM bit address
  localparam int B = A - 5;   // and of a beat's

  // ---- fields ----
  wire is_load = insn[7:0] == 8'd2;
  // (qw_fetch_one holds a store's fields where a load has them)
  wire [1:0]  fmt    = insn[41:40];
  wire [5:0]  bits   = insn[53:48];
  wire [7:0]  pt     = insn[63:56];
  wire [7:0]  pb     = insn[71:64];
  wire [7:0]  pl     = insn[79:72];
  wire [7:0]  pr     = insn[87:80];
  wire [AW-1:0] sram = insn[8*11 +: AW];
  // the first value's bit: 8 x dram + bit
  wire [A-1:0] base  = {insn[8*15 +: A-3], insn[8*53 +: 3]};
  wire [CW-1:0] fz   = insn[8*19 +: CW];
  wire [CW-1:0] fy   = insn[8*21 +: CW];
  wire [CW-1:0] fx   = insn[8*23 +: CW];
  wire [A-1:0] fzs   = insn[8*25 +: A];
  wire [A-1:0] fys   = insn[8*29 +: A];
  wire [A-1:0] fxs   = insn[8*33 +: A];
  // (a value is kept modulo 2^32: it fits 32 bits)
  wire [31:0] offset = insn[8*37 +: 32];
  wire [31:0] fill   = insn[8*45 +: 32];
  wire [CW-1:0] Y = CW'(pt) + fy + CW'(pb);
  wire [CW-1:0] X = CW'(pl) + fx + CW'(pr);

  // ---- setup: the strides in bits ----
  logic busy, setup, running;
  logic [2:0] mstep;
  logic [A-1:0] bxs, bys, bzs;
  always_ff @(posedge clk) begin
    if (setup) begin
      if (mstep == 0) begin
        bxs <= 0;
        bys <= 0;
        bzs <= 0;
      end else begin
        // bit 6 - mstep of `bits`, most significant first
        bxs <= (bxs << 1) + (bits[3'd6 - mstep] ? fxs : {A{1'b0}});
        bys <= (bys << 1) + (bits[3'd6 - mstep] ? fys : {A{1'b0}});
        bzs <= (bzs << 1) + (bits[3'd6 - mstep] ? fzs : {A{1'b0}});
      end
    end
  end
  wire start = setup && mstep == 3'd6;

  // ---- the walk over the values (a load's requests, a store's reads) ----
  logic w_step, w_on;
  /* verilator lint_off UNUSEDSIGNAL */
  logic w_last;                // the walk's `on` says when it ends
  /* verilator lint_on UNUSEDSIGNAL */
  logic [A-1:0] at;
  qw_walk #(.A(A), .C(CW)) walk (
      .clk, .start, .base, .z(fz), .y(fy), .x(fx), .zs(bzs), .ys(bys), .xs(bxs),
      .step(w_step), .at, .on(w_on), .last(w_last));
  // the value's last bit (only its beat matters)
  /* verilator lint_off UNUSEDSIGNAL */
  wire [A-1:0] at_end = at + A'(bits) - A'(1);
  /* verilator lint_on UNUSEDSIGNAL */
  wire [B-1:0] b0 = at[A-1:5], b1 = at_end[A-1:5];
  wire two = b1 != b0;

  // ---- load: requests ----
  logic any;             // a beat was asked for
  logic [B-1:0] last;    // the beat asked for last
  logic half;            // the value's first beat, a new one, was asked for; its second not yet
  wire new0 = !any || b0 != last;
  logic [6:0] held;      // beats asked for and not yet taken by the destination walk
  logic [8:0] queued;    // values described and not yet written
  wire room = held < 7'd60 && queued < 9'd250;
  wire loading = running && is_load;
  wire storing = running && !is_load;
  assign m_rreq = loading && w_on && room && (new0 || two);
  wire [B-1:0] raddr = new0 ? b0 : b1;
  assign m_raddr = 32'(raddr);
  // the value is described once its last beat is asked for (or both were asked for already)
  wire q_next = loading && w_on && room && (new0 ? !two : 1'b1);
  logic [6:0] d_head;
  logic d_valid, d_pop;
  qw_beats #(.W(7), .N(256), .LOG(8)) values (
      .clk, .clear(reset || !busy), .push(q_next), .din({new0 || half, two, at[4:0]}),
      .pop(d_pop), .head(d_head), .valid(d_valid));
  logic f_pop, f_valid;
  logic [31:0] f_head;
  qw_beats #(.W(32), .N(64), .LOG(6)) beats (
      .clk, .clear(reset || !busy), .push(m_rvalid), .din(m_rdata), .pop(f_pop),
      .head(f_head), .valid(f_valid));

  // ---- load: the destination walk over the padded block ----
  logic [CW-1:0] dp, dr, dc;     // position in the block
  logic [AW-1:0] waddr;
  logic d_on;
  logic first_done;              // the value's first beat, a new one, was taken last cycle
  logic [31:0] w0;               // the beat taken last
  wire d_pad = dr < CW'(pt) || dr >= CW'(pt) + fy || dc < CW'(pl) || dc >= CW'(pl) + fx;
  wire v_new0 = d_head[6] && !first_done, v_two = d_head[5];
  wire [4:0] v_bit = d_head[4:0];
  logic d_take;
  logic [63:0] window;
  always_comb begin
    d_take = 0;
    f_pop = 0;
    d_pop = 0;
    window = {f_head, w0};
    if (loading && d_on) begin
      if (d_pad) d_take = 1;
      else if (d_valid) begin
        if (v_new0) begin
          // the first beat is the FIFO's head; a second one takes another cycle
          f_pop = f_valid;
          d_take = f_valid && !v_two;
          window = {32'd0, f_head};
        end else if (v_two) begin
          f_pop = f_valid;
          d_take = f_valid;
        end else d_take = 1;
        d_pop = d_take;
      end
    end
  end
  // the value's bits, extended by its format, minus the offset
  // (bits is at most 32)
  /* verilator lint_off UNUSEDSIGNAL */
  wire [32:0] ones_wide = (33'd1 << bits) - 33'd1;
  /* verilator lint_on UNUSEDSIGNAL */
  wire [31:0] ones = ones_wide[31:0];
  // one funnel shifter serves both directions (only one runs): a load takes 32 bits of its
  // beats from the value's bit, a store rotates its value left to its bit, a rotation right
  // by 32 - bit
  logic [31:0] s_val;
  logic [4:0] s_bit;
  wire [63:0] funnel_in = storing ? {s_val, s_val} : window;
  wire [4:0] funnel_by = storing ? 5'd0 - s_bit : v_bit;
  wire [31:0] funnel = funnel_in[{1'b0, funnel_by} +: 32];
  wire [31:0] raw = funnel & ones;
  wire sign = fmt == 2'd0 && raw[5'(bits - 6'd1)];
  logic [31:0] value;
  always_comb begin
    value = raw | (sign ? ~ones : 32'd0);
    if (fmt == 2'd2) value = raw[0] ? 32'd1 : {32{1'b1}};
    value = value - offset;
  end
  assign w_en = d_take;
  assign w_buf = insn[34:32];
  assign w_addr = 16'(waddr);
  assign w_val = d_pad ? fill : value;

  // ---- store: reads, one a cycle, each value written with its bit mask ----
  logic s_have;                  // r_val holds the value read last cycle
  // (s_bit: where it goes, bit s_bit of beat s_b0 and on into s_b0 + 1)
  logic [B-1:0] s_b0;
  logic s_two, s_high;           // it spans two beats; the low one is written
  logic [7:0] unacked;
  // the value's bits (a bipolar value: 1 for +1) rotated to its bit (the funnel shifter
  // above): the low beat takes the rotated word's bits from s_bit up, the high beat those
  // below
  always_comb begin
    s_val = 32'($signed(r_val)) & ones;
    if (fmt == 2'd2) s_val = {31'd0, r_val == {{(ACC_BITS-1){1'b0}}, 1'b1}};
  end
  // v rotated left by `by`: five stages of 32 two-way muxes
  function automatic logic [31:0] rotl(input logic [31:0] v, input logic [4:0] by);
    rotl = v;
    if (by[0]) rotl = {rotl[30:0], rotl[31]};
    if (by[1]) rotl = {rotl[29:0], rotl[31:30]};
    if (by[2]) rotl = {rotl[27:0], rotl[31:28]};
    if (by[3]) rotl = {rotl[23:0], rotl[31:24]};
    if (by[4]) rotl = {rotl[15:0], rotl[31:16]};
  endfunction
  wire [31:0] from_bit = {32{1'b1}} << s_bit;
  wire [31:0] s_ones = rotl(ones, s_bit);
  assign m_wreq = storing && s_have;
  wire [B-1:0] waddr_beat = s_b0 + B'(s_high);
  assign m_waddr = 32'(waddr_beat);
  assign m_wdata = funnel;
  assign m_wmask = s_high ? s_ones & ~from_bit : s_ones & from_bit;
  // the value is written this cycle (a two-beat value's high beat)
  wire s_written = storing && s_have && m_wready && (!s_two || s_high);
  assign w_step = storing ? (!s_have || s_written) : q_next;
  wire s_read = storing && w_on && w_step;
  // a value still being written is read again, so that r_val keeps it
  wire [AW-1:0] raddr_acc = waddr - AW'(!s_read);
  assign r_addr = 16'(raddr_acc);

  // ---- sequencing ----
  wire load_end = !w_on && !d_on && held == 0;
  wire store_end = !w_on && !s_have && unacked == 0;
  always_ff @(posedge clk) begin
    done <= 0;
    if (reset) begin
      busy <= 0;
      setup <= 0;
      running <= 0;
    end else if (!busy) begin
      if (go && !done) begin
        busy <= 1;
        setup <= 1;
        mstep <= 0;
      end
    end else if (setup) begin
      mstep <= mstep + 3'd1;
      if (start) begin
        setup <= 0;
        running <= 1;
        {dp, dr, dc} <= '0;
        d_on <= is_load && fz != 0 && Y != 0 && X != 0;
        {any, half, first_done, s_have, s_high} <= '0;
        waddr <= sram;
        held <= 0;
        queued <= 0;
        unacked <= 0;
      end
    end else if (running) begin
      // requests
      if (m_rreq) begin
        last <= raddr;
        any <= 1;
      end
      if (q_next) half <= 0;
      else if (m_rreq && new0) half <= 1;
      held <= held + {6'd0, m_rreq} - {6'd0, f_pop};
      queued <= queued + {8'd0, q_next} - {8'd0, d_pop};
      // destination walk
      if (f_pop) w0 <= f_head;
      // a value's first of two new beats is taken a cycle before the value
      if (d_pop) first_done <= 0;
      else if (f_pop) first_done <= 1;
      if (d_take || s_read) waddr <= waddr + AW'(1);
      if (d_take) begin
        dc <= dc + CW'(1);
        if (dc + CW'(1) == X) begin
          dc <= 0;
          dr <= dr + CW'(1);
          if (dr + CW'(1) == Y) begin
            dr <= 0;
            dp <= dp + CW'(1);
            if (dp + CW'(1) == fz) d_on <= 0;
          end
        end
      end
      // store
      if (s_read) begin
        s_have <= 1;
        s_bit <= at[4:0];
        s_b0 <= b0;
        s_two <= two;
        s_high <= 0;
      end else if (s_written) s_have <= 0;
      if (storing && s_have && m_wready && s_two && !s_high) s_high <= 1;
      unacked <= unacked + {7'd0, m_wreq && m_wready} - {7'd0, m_wack};
      if (is_load ? load_end : store_end) begin
        running <= 0;
        busy <= 0;
        done <= 1;
      end
    end
  end
endmodule

// qw_xfer: the DRAM transfer engine, one `load` or `store` (docs/isa.md) at a time.
//
// A load walks its destination block in order (plane, row, column), up to V entries a cycle:
// padding takes `fill`, a value takes its bits from the beats a request walker fetched in the
// same order (each row's span of beats, a beat shared with the previous row fetched once).
// A store walks the accumulators in order and merges the values into the beat they land in,
// writing a beat when the walk moves past it; it finishes when every write is acknowledged.
// Entries of one cycle are consecutive, so the memories see V contiguous write (or read) lanes.
module qw_xfer #(
    parameter int BUS = 128,
    parameter int LOG_BUS = 7,
    parameter int V = 32,
    parameter int ACC_BITS = 32,
    parameter int FIFO = 64,
    parameter int LOG_FIFO = 6
) (
    input  logic                       clk,
    input  logic                       reset,
    input  logic                       go,
    input  logic [511:0]               insn,
    output logic                       done,
    // a load's writes: lane l writes entry w_addr + l of buffer w_buf
    output logic [2:0]                 w_buf,
    output logic [V-1:0]               w_en,
    output logic [31:0]                w_addr,
    output logic signed [63:0]         w_val [V],
    // a store's reads: lane l reads accumulator r_addr + l
    output logic [31:0]                r_addr,
    input  logic signed [ACC_BITS-1:0] r_val [V],
    // DRAM, in beats of BUS bits: reads answered in order, writes acknowledged
    output logic                       m_rreq,
    output logic [31:0]                m_raddr,
    input  logic                       m_rvalid,
    input  logic [BUS-1:0]             m_rdata,
    output logic                       m_wreq,
    output logic [31:0]                m_waddr,
    output logic [BUS-1:0]             m_wdata,
    output logic [BUS-1:0]             m_wmask,
    input  logic                       m_wack
);
  localparam int OP_LOAD = 2;

  // ---- the instruction, latched at start ----
  // the instruction word also holds the flags, the layer and reserved bytes
  /* verilator lint_off UNUSEDSIGNAL */
  logic [511:0] I;
  /* verilator lint_on UNUSEDSIGNAL */
  logic busy, is_load;
  // fields of a load (store fields in comments where they differ)
  logic [2:0]  buf_id;
  logic [1:0]  fmt;
  logic [5:0]  bits;
  logic [15:0] pt, pb, pl, pr, fz, fy, fx;
  logic [31:0] sram, fzs, fys, fxs;
  logic [63:0] offset, fill;
  logic [34:0] base;  // bit address of value 0
  always_comb begin
    if (is_load) begin
      buf_id = I[34:32];
      fmt    = I[41:40];
      bits   = I[53:48];
      pt     = {8'd0, I[63:56]};
      pb     = {8'd0, I[71:64]};
      pl     = {8'd0, I[79:72]};
      pr     = {8'd0, I[87:80]};
      sram   = I[8*11 +: 32];
      base   = {I[8*15 +: 32], 3'd0} + 35'(I[8*53 +: 3]);
      fz      = I[8*19 +: 16];
      fy      = I[8*21 +: 16];
      fx      = I[8*23 +: 16];
      fzs     = I[8*25 +: 32];
      fys     = I[8*29 +: 32];
      fxs     = I[8*33 +: 32];
      offset = I[8*37 +: 64];
      fill   = I[8*45 +: 64];
    end else begin
      buf_id = 3'd2;
      sram   = I[8*4 +: 32];
      base   = {I[8*8 +: 32], 3'd0} + 35'(I[8*32 +: 3]);
      fmt    = I[8*12 +: 2];
      bits   = I[8*13 +: 6];
      fz      = I[8*14 +: 16];
      fy      = I[8*16 +: 16];
      fx      = I[8*18 +: 16];
      fzs     = I[8*20 +: 32];
      fys     = I[8*24 +: 32];
      fxs     = I[8*28 +: 32];
      pt = 0; pb = 0; pl = 0; pr = 0;
      offset = 0;
      fill   = 0;
    end
  end
  // the walks: rows (and planes) merged into one where they are contiguous in DRAM, as the
  // cycle model merges bursts, so a transfer is not cut up. The request walk merges whatever
  // DRAM holds contiguously; the destination walk only where no padding comes between.
  function automatic void merge(input logic may, input logic req, output logic [31:0] mx,
                                output logic [31:0] mxs, output logic [31:0] mys,
                                output logic [31:0] mzs, output logic [15:0] my,
                                output logic [15:0] mz);
    mx = 32'(fx);
    mxs = fxs;
    my = fy;
    mys = fys;
    mz = fz;
    mzs = fzs;
    // the request walk fetches a broadcast value once: a row of one value repeated along x,
    // and such rows repeated along y or z, need their beats once (the destination walk keeps
    // the beats until a value needs another)
    if (req && fxs == 0) mx = 1;
    if (req && mx == 1 && fys == 0) my = 1;
    if (req && mx == 1 && my == 1 && fzs == 0) mz = 1;
    if (may && my != 1 && ((mx == 1 && mys == 1) || (mxs == 1 && mys == mx))) begin
      mx = mx * 32'(my);
      mxs = 1;
      my = 1;
    end
    if (may && my == 1 && mz != 1 && ((mx == 1 && mzs == 1) || (mxs == 1 && mzs == mx))) begin
      mx = mx * 32'(mz);
      mxs = 1;
      mz = 1;
    end
  endfunction
  logic [31:0] x, xs, ys, zs, rx, rxs, rys, rzs;
  logic [15:0] y, z, ry, rz;
  // A walk whose rows (or planes) overlap or run backwards in DRAM is `safe` walked: each
  // value row's beats are fetched for it alone, a cycle's lanes stay in one row, and the row's
  // beats are dropped at its end. Otherwise beats come in increasing order, a beat two rows
  // share fetched once.
  logic safe;
  always_comb begin
    logic [31:0] row_ext, plane_ext;
    row_ext = (fx == 1 || fxs == 0) ? 1 : (32'(fx) - 1) * fxs + 1;
    plane_ext = (fy == 1 || (fys == 0 && row_ext == 1)) ? row_ext
              : (32'(fy) - 1) * fys + row_ext;
    safe = !((fy == 1 || fys >= row_ext || (fys == 0 && row_ext == 1))
             && (fz == 1 || fzs >= plane_ext || (fzs == 0 && plane_ext == 1)));
  end
  always_comb merge((pt | pb | pl | pr) == 0 && !safe, 1'b0, x, xs, ys, zs, y, z);
  always_comb merge(!safe, !safe, rx, rxs, rys, rzs, ry, rz);
  wire [15:0] Y = pt + y + pb;
  wire [31:0] X = 32'(pl) + x + 32'(pr);
  wire empty = (z == 0) || (y == 0) || (x == 0);

  // bit address of value (plane p, value row r, value column c)
  function automatic logic [63:0] bit_at(input logic [15:0] p, input logic [15:0] r,
                                         input logic [31:0] c, input logic [31:0] szs,
                                         input logic [31:0] sys, input logic [31:0] sxs);
    return 64'(base) + (64'(p) * 64'(szs) + 64'(r) * 64'(sys) + 64'(c) * 64'(sxs)) * 64'(bits);
  endfunction
  function automatic logic [63:0] bit_of(input logic [15:0] p, input logic [15:0] r,
                                         input logic [31:0] c);
    return bit_at(p, r, c, zs, ys, xs);
  endfunction

  // ---- load: the request walker ----
  logic [15:0] qp, qr;          // the value row whose beats are requested
  logic        q_active;        // rows remain
  logic [31:0] q_beat, q_end;   // next beat to request, last beat of the row
  logic        q_inrow;         // inside a row's span
  logic [31:0] q_last;          // last beat requested
  logic        q_any;           // whether any was
  logic [1:0]  q_gap;           // setup cycles of a new run
  wire  [63:0] q_first_bit = bit_at(qp, qr, 0, rzs, rys, rxs);
  wire  [63:0] q_last_bit = bit_at(qp, qr, rx - 1, rzs, rys, rxs) + 64'(bits) - 1;
  wire  [31:0] q_b0 = 32'(q_first_bit >> LOG_BUS);
  wire  [31:0] q_b1 = 32'(q_last_bit >> LOG_BUS);

  // (rows broadcast along a plane, ys = 0, that fit one beat are that beat again: the
  // walk takes the plane's first row only)
  // beat FIFO: slots allocated at request, filled by responses in order
  logic [31:0]    fb_beat [FIFO];
  logic [BUS-1:0] fb_data [FIFO];
  logic [FIFO-1:0] fb_full;
  logic [LOG_FIFO-1:0] fb_rd, fb_alloc, fb_fill;
  logic [LOG_FIFO:0] fb_count;  // allocated slots
  logic [31:0] outstanding;

  wire can_request = is_load && busy && q_active && (32'(fb_count) < FIFO - 1);
  logic issue;
  always_comb begin
    issue = 0;
    m_raddr = q_beat;
    if (can_request && q_inrow && q_gap == 0) issue = 1;
  end
  assign m_rreq = issue;

  // ---- load: the destination walker ----
  logic [15:0] dp, dr;       // plane, row (of Y)
  logic [31:0] dq;           // column (of X)
  logic [31:0] dentry;       // entry index within the block
  logic        d_active;
  wire  [LOG_FIFO-1:0] fb_nx = fb_rd + 1'b1;
  wire  head_ok = fb_count != 0 && fb_full[fb_rd];
  wire  next_ok = fb_count > 1 && fb_full[fb_nx];
  wire  [31:0] head_beat = fb_beat[fb_rd];
  wire  [31:0] next_beat = fb_beat[fb_nx];
  wire  [2*BUS-1:0] window = {fb_data[fb_nx], fb_data[fb_rd]};
  logic [V-1:0] lane_ok;
  logic         pop;
  logic         row_end, row_two;  // a safe walk's row ends: drop its one or two beats
  logic [31:0]  advance;
  logic [15:0]  n_dp, n_dr;  // where the walk stands after this cycle
  logic [31:0]  n_dq;
  logic         n_active;
  logic signed [63:0] lane_val [V];
  always_comb begin
    logic [63:0] ba, bb;
    logic [15:0] lp, lr;
    logic [31:0] lq, c;
    logic [63:0] raw;
    logic [LOG_BUS:0] sh;
    logic prefix, live, ready, other_row;
    prefix = 1;
    pop = 0;
    advance = 0;
    ready = 0;
    other_row = 0;
    row_end = 0;
    row_two = 0;
    raw = 0;
    sh = 0;
    // the lanes take consecutive entries of the block, across rows and planes
    lp = dp;
    lr = dr;
    lq = dq;
    live = d_active;
    n_dp = dp;
    n_dr = dr;
    n_dq = dq;
    n_active = d_active;
    // lane V only looks at the entry after the last lane
    for (int l = 0; l <= V; l++) begin
      if (l < V) begin
        lane_ok[l] = 0;
        lane_val[l] = fill;
      end
      c = lq - 32'(pl);
      ba = bit_of(lp, lr - pt, c);
      bb = ba + 64'(bits) - 1;
      other_row = safe && (lr != dr || lp != dp);
      if (!live || other_row) prefix = 0;
      else if (lr < pt || lr >= pt + y || lq < 32'(pl) || lq >= 32'(pl) + x) begin
        // padding takes `fill`
      end else begin
        ready = head_ok && head_beat == 32'(ba >> LOG_BUS)
                && (32'(bb >> LOG_BUS) == head_beat
                    || (next_ok && 32'(bb >> LOG_BUS) == head_beat + 1 && next_beat == head_beat + 1));
        // the first value this cycle does not take says whether the head is used up
        if (prefix && (!ready || l == V) && head_ok && 32'(ba >> LOG_BUS) != head_beat) pop = 1;
        if (!ready) prefix = 0;
        // a safe walk drops the row's beats with its last value
        if (prefix && l < V && safe && c + 1 == x) begin
          row_end = 1;
          row_two = 32'(bb >> LOG_BUS) != head_beat;
        end
        if (l < V) begin
          sh = (LOG_BUS+1)'(ba - 64'({head_beat, {LOG_BUS{1'b0}}}));
          raw = 64'(window >> sh);
          raw = raw & ((64'd1 << bits) - 64'd1);
          case (fmt)
            2'd0: lane_val[l] = (signed'(raw << (7'd64 - 7'(bits)))) >>> (7'd64 - 7'(bits));
            2'd1: lane_val[l] = signed'(raw);
            default: lane_val[l] = raw[0] ? 64'sd1 : -64'sd1;
          endcase
          lane_val[l] = lane_val[l] - signed'(offset);
        end
      end
      if (l == V) prefix = 0;
      if (l < V) lane_ok[l] = prefix;
      if (prefix) begin
        advance = 32'(l) + 1;
        // step to the next entry
        lq = lq + 1;
        if (lq == X) begin
          lq = 0;
          lr = lr + 1;
          if (lr == Y) begin
            lr = 0;
            lp = lp + 1;
            if (lp == z) live = 0;
          end
        end
        n_dp = lp;
        n_dr = lr;
        n_dq = lq;
        n_active = live;
      end
    end
    if (row_end) pop = 0;
    if (!(busy && is_load && d_active)) begin
      advance = 0;
      pop = 0;
      row_end = 0;
    end
  end

  // ---- store: the merge window ----
  logic [15:0] sp, sr;
  logic [31:0] sq;
  logic [31:0] sentry;
  logic        s_active;
  logic        s_pending;
  logic [31:0] s_beat;
  logic [2*BUS-1:0] s_data, s_mask;
  logic [31:0] writes, acks;
  logic [31:0]  s_adv;
  logic [31:0]  s_b0;
  logic         s_shift;   // retire the window's low beat this cycle
  logic         s_fresh;   // open a new window at the walk's beat
  logic [2*BUS-1:0] s_ndata, s_nmask;
  assign r_addr = sram + sentry;
  always_comb begin
    logic [63:0] ba, bb;
    logic [LOG_BUS:0] o;
    logic [31:0] wb;
    logic [63:0] rawv, ones;
    logic prefix;
    logic [2*BUS-1:0] d, m;
    prefix = 1;
    o = 0;
    rawv = 0;
    ones = 0;
    s_ndata = 0;
    s_nmask = 0;
    s_adv = 0;
    s_shift = 0;
    s_b0 = 32'(bit_of(sp, sr, sq) >> LOG_BUS);
    wb = s_beat;
    d = s_data;
    m = s_mask;
    // a value outside the window and nothing left to write in it: open a new one there
    s_fresh = !s_pending || (s_b0 != s_beat && s_b0 != s_beat + 1 && s_mask == 0);
    if (s_fresh) begin
      wb = s_b0;
      d = 0;
      m = 0;
    end else if (s_b0 != s_beat) begin
      s_shift = 1;
      wb = s_beat + 1;
      d = s_data >> BUS;
      m = s_mask >> BUS;
    end
    for (int l = 0; l < V; l++) begin
      ba = bit_of(sp, sr, sq + 32'(l));
      bb = ba + 64'(bits) - 1;
      if (sq + 32'(l) >= x) prefix = 0;
      if (32'(ba >> LOG_BUS) != wb || 32'(bb >> LOG_BUS) > wb + 1) prefix = 0;
      if (prefix) begin
        o = (LOG_BUS+1)'(ba - 64'({wb, {LOG_BUS{1'b0}}}));
        ones = (64'd1 << bits) - 64'd1;
        rawv = (fmt == 2'd2) ? 64'(r_val[l] == 1) : 64'(r_val[l]);
        rawv = rawv & ones;
        d = (d & ~((2*BUS)'(ones) << o)) | ((2*BUS)'(rawv) << o);
        m = m | ((2*BUS)'(ones) << o);
        s_adv = 32'(l) + 1;
      end
    end
    s_ndata = d;
    s_nmask = m;
    if (!(busy && !is_load && s_active)) begin
      s_adv = 0;
      s_shift = 0;
    end
  end
  // a store writes a beat when it retires it, or while draining at the end
  always_comb begin
    m_wreq = 0;
    m_waddr = s_beat;
    m_wdata = s_data[BUS-1:0];
    m_wmask = s_mask[BUS-1:0];
    if (busy && !is_load && s_pending && (s_shift || !s_active) && s_mask[BUS-1:0] != 0)
      m_wreq = 1;
  end

  // ---- memory writes of a load ----
  always_comb begin
    w_buf = buf_id;
    w_addr = sram + dentry;
    for (int l = 0; l < V; l++) begin
      w_en[l] = busy && is_load && d_active && lane_ok[l];
      w_val[l] = lane_val[l];
    end
  end

  // ---- sequencing ----
  logic finishing;
  assign finishing = busy && (is_load ? (!d_active && outstanding == 0)
                                      : (!s_active && !s_pending && acks == writes));
  always_ff @(posedge clk) begin
    done <= 0;
    if (reset) begin
      busy <= 0;
      is_load <= 0;
      fb_count <= 0;
      fb_rd <= 0;
      fb_alloc <= 0;
      fb_fill <= 0;
      fb_full <= 0;
      outstanding <= 0;
      I <= 0;
    end else if (!busy) begin
      if (go && !done) begin
        I <= insn;
        is_load <= insn[7:0] == 8'(OP_LOAD);
        busy <= 1;
        // the walkers start next cycle, once the fields are latched
        q_active <= 0;
        d_active <= 0;
        s_active <= 0;
        s_pending <= 0;
        q_inrow <= 0;
        q_any <= 0;
        q_gap <= 2'd2;
        writes <= 0;
        acks <= 0;
        {qp, qr, dp, dr, dq, sp, sr, sq} <= '0;
        dentry <= 0;
        sentry <= 0;
        fb_count <= 0;
        fb_rd <= 0;
        fb_alloc <= 0;
        fb_fill <= 0;
        fb_full <= 0;
        outstanding <= 0;
      end
    end else begin
      if (I[511]) begin
        // unreachable (bit 511 is a reserved zero byte): keeps the start-up state explicit
        busy <= 0;
      end
      // first cycle: arm the walkers
      if (q_gap == 2'd2 && !q_active && !d_active && !s_active && !s_pending
          && dentry == 0 && sentry == 0 && !q_any) begin
        q_gap <= 2'd1;
        q_active <= is_load && !empty;
        d_active <= is_load && (z != 0) && (Y != 0) && (X != 0);
        s_active <= !is_load && !empty;
      end
      // request walker
      if (is_load && q_active && !q_inrow && q_gap != 2'd2) begin
        // enter the next row: skip the beat shared with the previous row
        q_inrow <= 1;
        if (q_any && q_b0 == q_last && !safe) begin
          q_beat <= q_b0 + 1;
          q_gap <= 0;
          if (q_b1 == q_last) begin
            q_inrow <= 0;
            if ((qr + 1 == ry || (!safe && rys == 0 && q_b0 == q_b1))) begin
              qr <= 0;
              qp <= qp + 1;
              if (qp + 1 == rz) q_active <= 0;
            end else qr <= qr + 1;
          end
        end else begin
          q_beat <= q_b0;
          q_gap <= (q_any && q_b0 == q_last + 1) ? 2'd0 : 2'd1;
        end
        q_end <= q_b1;
      end else if (q_gap == 2'd1 && q_inrow) begin
        q_gap <= 0;
      end else if (issue) begin
        q_last <= q_beat;
        q_any <= 1;
        q_beat <= q_beat + 1;
        if (q_beat == q_end) begin
          q_inrow <= 0;
          if ((qr + 1 == ry || (!safe && rys == 0 && q_b0 == q_b1))) begin
            qr <= 0;
            qp <= qp + 1;
            if (qp + 1 == rz) q_active <= 0;
          end else qr <= qr + 1;
        end
      end
      // beat FIFO
      if (issue) begin
        fb_beat[fb_alloc] <= q_beat;
        fb_full[fb_alloc] <= 0;
        fb_alloc <= fb_alloc + 1'b1;
      end
      if (m_rvalid) begin
        fb_data[fb_fill] <= m_rdata;
        fb_full[fb_fill] <= 1;
        fb_fill <= fb_fill + 1'b1;
      end
      if (pop) fb_rd <= fb_rd + 1'b1;
      if (row_end) fb_rd <= fb_rd + (row_two ? LOG_FIFO'(2) : LOG_FIFO'(1));
      fb_count <= fb_count + (LOG_FIFO+1)'(issue) - (LOG_FIFO+1)'(pop)
                - (row_end ? (row_two ? (LOG_FIFO+1)'(2) : (LOG_FIFO+1)'(1)) : '0);
      outstanding <= outstanding + 32'(issue) - 32'(m_rvalid);
      // destination walker
      if (advance != 0) begin
        dentry <= dentry + advance;
        dp <= n_dp;
        dr <= n_dr;
        dq <= n_dq;
        d_active <= n_active;
      end
      // store walker
      if (!is_load) begin
        if (s_active) begin
          if (s_adv != 0 || s_shift || s_fresh) begin
            s_data <= s_ndata;
            s_mask <= s_nmask;
            s_pending <= 1;
            if (s_fresh) s_beat <= s_b0;
            else if (s_shift) s_beat <= s_beat + 1;
          end
          if (s_adv != 0) begin
            sentry <= sentry + s_adv;
            if (sq + s_adv == x) begin
              sq <= 0;
              if (sr + 1 == y) begin
                sr <= 0;
                sp <= sp + 1;
                if (sp + 1 == z) s_active <= 0;
              end else sr <= sr + 1;
            end else sq <= sq + s_adv;
          end
        end else if (s_pending) begin
          // drain: the low beat, then the high one
          s_data <= s_data >> BUS;
          s_mask <= s_mask >> BUS;
          s_beat <= s_beat + 1;
          if (s_mask[2*BUS-1:BUS] == 0) s_pending <= 0;
        end
        writes <= writes + 32'(m_wreq);
        acks <= acks + 32'(m_wack);
      end
      if (finishing && !(q_gap == 2'd2)) begin
        busy <= 0;
        done <= 1;
      end
    end
  end
endmodule

// qw_serial_post: the serial datapath's post-processing unit, one accumulator at a time:
// `requant`, `clamp`, `alu`, `lut`, `thresh` and `pool` (docs/isa.md). A small sequencer reads
// an element's operands from the registered memories (one read a cycle), computes, and writes
// the result. `requant` reads a channel's multiplier and shift when the channel starts (once
// when the records are shared), and its zero points from the parameter memory as each element
// needs them (they are not held), `thresh` compares one threshold a cycle, `pool` reads one window
// position a cycle. Zero points, bounds and the other immediates fit 32 bits, and so do the
// accumulators (the serial datapath's limits, which the ISA simulator holds programs to), and
// outputs saturate to at most 32 bits. A product is of magnitudes, 32 x 48 bits, a 16-bit digit
// of the right operand a cycle on two 16 x 16 multipliers, least significant first; the right
// operand is a requantization's multiplier shifted left by 16 - shift % 16 (once per record, a
// bit a cycle), so the rounding shift that remains is by a multiple of 16: a choice of four
// windows. Rounding works on the magnitude (a negative value's mode mirrored), and the sign is
// applied after it.
module qw_serial_post #(
    parameter int ACC_BITS = 32,
    parameter int LA = 10,        // address bits of the accumulator, parameter and table memories
    parameter int LP = 6,
    parameter int LL = 8,
    parameter int AW = 10,        // bits the walks keep of an address (the widest memory's)
    parameter int CW = 11,        // and of a count (no dimension reaches 2^CW entries)
    parameter int WB = 2 + 4 * AW + 3 * CW
) (
    input  logic                clk,
    input  logic                reset,
    input  logic                go,
    // held while `go`; holds other opcodes' fields too
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic [511:0]        insn,
    /* verilator lint_on UNUSEDSIGNAL */
    output logic                done,
    input  logic [5:0]          cfg_acc_bits,
    output logic [LA-1:0]       acc_ra,
    input  logic [ACC_BITS-1:0] acc_rd,
    output logic                acc_we,
    output logic [LA-1:0]       acc_wa,
    output logic [ACC_BITS-1:0] acc_wd,
    output logic [LP-1:0]       par_ra,
    input  logic [31:0]         par_rd,   // a record's shift uses 6 bits
    output logic [LL-1:0]       lut_ra,
    input  logic [31:0]         lut_rd,
    // two of the walks the core shares with the array (qw_serial_gemm's `walks`)
    output logic [2*WB-1:0]     walks,
    input  logic [2*(AW+2)-1:0] walked
);
  localparam logic [7:0] REQUANT = 4, CLAMP = 5, ALU = 6, LUT = 7, THRESH = 8, POOL = 9;
  localparam int N = 36;      // a value: a 34-bit rounded magnitude, signed, plus 32 bits

  // ---- fields ----
  wire [7:0] op = insn[7:0];
  wire is_alu = op == ALU, is_pool = op == POOL;
  wire [AW-1:0] dst = is_alu ? insn[8*5 +: AW] : is_pool ? insn[8*9 +: AW] : insn[8*4 +: AW];
  wire [15:0] fz = is_alu ? insn[8*13 +: 16] : is_pool ? insn[8*13 +: 16] : insn[8*8 +: 16];
  wire [15:0] fy = is_alu ? insn[8*15 +: 16] : is_pool ? insn[8*19 +: 16] : insn[8*10 +: 16];
  wire [15:0] fx = is_alu ? insn[8*17 +: 16] : is_pool ? insn[8*21 +: 16] : insn[8*12 +: 16];
  wire [LP-1:0] par = insn[8*14 +: LP];
  wire [15:0] pstride = op == THRESH ? insn[8*20 +: 16] : insn[8*18 +: 16];
  wire [1:0] ofmt = op == REQUANT ? insn[8*21 +: 2] : is_alu ? insn[8*55 +: 2] : insn[8*32 +: 2];
  wire [5:0] obits = op == REQUANT ? insn[8*22 +: 6] : is_alu ? insn[8*56 +: 6] : insn[8*33 +: 6];
  // the immediates, sign-extended from 32 bits
  function automatic logic signed [N-1:0] nimm(input logic [31:0] v);
    nimm = {{(N-32){v[31]}}, v};
  endfunction
  function automatic logic signed [N-1:0] acc_value(input logic [ACC_BITS-1:0] v);
    acc_value = {{(N-ACC_BITS){v[ACC_BITS-1]}}, v};
  endfunction

  // ---- sat(v, fmt, bits) ----
  // sat(v, fmt, bits) of a value kept to N bits; `over` says the whole value does not fit
  // them, and `neg` is then its sign
  function automatic logic signed [N-1:0] sat(input logic signed [N-1:0] v, input logic over,
                                              input logic neg, input logic [1:0] fmt,
                                              input logic [5:0] bits);
    // the bits above the range: for signed values from bit bits-1 on (they must all equal the
    // sign), for unsigned ones from bit bits on (they must be zero)
    logic [N-1:0] high;
    logic sign, fits;
    high = {N{1'b1}} << (fmt == 2'd0 ? bits - 6'd1 : bits);
    sign = over ? neg : v[N-1];
    fits = !over && ((v & high) == 0 || (fmt == 2'd0 && (v & high) == high));
    if (fmt == 2'd2) sat = sign ? -N'(1) : N'(1);
    else if (fits) sat = v;
    else if (fmt == 2'd0) sat = sign ? high : ~high;
    else sat = sign ? N'(0) : ~high;
  endfunction

  // ---- setup: the products the pool walks with ----
  localparam logic [3:0] IDLE = 0, SETUP = 1, FINISH = 2, REC = 3, V0 = 4, V1 = 5, S1 = 6,
                         MS = 7, L0 = 8, T0 = 9, P0 = 10, P1 = 11, P2 = 12, WR = 13, MC = 14,
                         SH = 15;
  logic [3:0] phase;
  logic [1:0] sstep;
  logic [AW-1:0] p_plane, p_shiw, p_dhiw;   // (modulo 2^AW, as the walks keep addresses)
  logic [15:0] sa, sb;
  always_comb begin
    case (sstep)
      2'd0: begin sa = insn[8*15 +: 16]; sb = insn[8*17 +: 16]; end              // ih x iw
      2'd1: begin sa = {8'd0, insn[8*25 +: 8]}; sb = insn[8*17 +: 16]; end       // sh x iw
      default: begin sa = {8'd0, insn[8*27 +: 8]}; sb = insn[8*17 +: 16]; end    // dh x iw
    endcase
  end
  // (on the product's low multiplier, idle during setup)
  /* verilator lint_off UNUSEDSIGNAL */
  wire [15:0] mprod;
  /* verilator lint_on UNUSEDSIGNAL */
  always_ff @(posedge clk) begin
    if (phase == SETUP) begin
      case (sstep)
        2'd0: p_plane <= mprod[AW-1:0];
        2'd1: p_shiw <= mprod[AW-1:0];
        default: p_dhiw <= mprod[AW-1:0];
      endcase
    end
  end
  wire setup_end = phase == SETUP && sstep == 2'd2;

  // ---- the walks: the right operand of an alu or a pool output's window, the window ----
  logic r_step, w_start, w_step, w_last;
  // (addresses kept to the widest memory's bits)
  logic [AW-1:0] r_at, w_at;
  /* verilator lint_off UNUSEDSIGNAL */
  logic r_on, r_last, w_on;
  /* verilator lint_on UNUSEDSIGNAL */
  assign walks[0 +: WB] = {AW'(is_pool ? {8'd0, insn[8*26 +: 8]} : insn[8*27 +: 16]),
                           is_pool ? p_shiw : insn[8*23 +: AW],
                           is_pool ? p_plane : insn[8*19 +: AW],
                           CW'(fx), CW'(fy), CW'(fz),
                           AW'(is_pool ? insn[8*5 +: 16] : insn[8*9 +: 16]), r_step, setup_end};
  assign {r_last, r_on, r_at} = walked[0 +: AW + 2];
  assign walks[WB +: WB] = {AW'(insn[8*28 +: 8]), p_dhiw, AW'(0), CW'(insn[8*24 +: 8]),
                            CW'(insn[8*23 +: 8]), CW'(1), r_at, w_step, w_start};
  assign {w_last, w_on, w_at} = walked[AW + 2 +: AW + 2];

  // ---- the element ----
  // (addresses modulo 2^AW and 2^LP, counts to CW bits: the ISA simulator holds the
  // instruction to the memories)
  logic [AW-1:0] e_at;         // the element (dense from dst)
  logic [CW-1:0] ec, ey, ex;   // its channel, row and column, counting down
  logic [LP-1:0] pa;           // the channel's parameter record (or first threshold)
  logic [2:0] rk;              // record words asked for
  logic [CW-1:0] k;            // thresholds asked for
  logic wlive;                 // a threshold or window value arrives this cycle
  logic wfirst;                // it is the window's first
  // the narrow values: accumulators, 32-bit immediates, their sums (N bits)
  logic signed [N-1:0] v, t, work;
  logic [3:0] shift;           // the record's shift % 16 (mq holds shift / 16)
  // the record's zero points, read again for each element: the input's in the cycle its
  // magnitude is taken (MS), the output's when the result is written (WR)
  wire signed [N-1:0] zp_in = nimm(par_rd), zp_out = nimm(par_rd);
  // the product: |left| x |right| << 16 (mb), a digit of mb a cycle, least significant first;
  // hi keeps the sum's top 48 bits, lo the 32 below them as they are finished
  logic [31:0] ua;             // |left operand|
  logic [47:0] mb;             // |right operand| << (16 - shift % 16)
  logic [1:0] mq;              // shift / 16
  logic [3:0] sh;              // the record's shifting steps left
  logic ua_neg, mb_neg;
  logic [1:0] digit;
  logic [47:0] hi;
  logic [31:0] lo;
  wire [15:0] ad = digit == 2'd0 ? mb[15:0] : digit == 2'd1 ? mb[31:16] : mb[47:32];
  wire [15:0] lo_a = phase == SETUP ? sa : ad, lo_b = phase == SETUP ? sb : ua[15:0];
  wire [31:0] p_lo = lo_a * lo_b, p_hi = ad * ua[31:16];
  assign mprod = p_lo[15:0];
  wire [47:0] partial = {16'd0, p_lo} + {p_hi, 16'd0};
  wire neg = ua_neg ^ mb_neg;
  // the operands of an alu (or a requantization's): each less its zero point
  wire signed [N-1:0] d = v - (is_alu ? nimm(insn[8*31 +: 32]) : zp_in);
  wire signed [N-1:0] s = t - nimm(insn[8*39 +: 32]);
  function automatic logic [31:0] mag(input logic signed [N-1:0] x);
    mag = x[N-1] ? 32'(-x) : 32'(x);
  endfunction
  // the product's magnitude divided by 2^(16 (mq + 1)): its low 33 bits, whether it has more
  // (over), the first bit below (half) and whether any other bit below is set (rest)
  wire [79:0] pp = {hi, lo};
  logic [32:0] q;
  logic half, rest, over, up;
  always_comb begin
    logic [3:0] nz;  // whether bits 16k .. 16k + 14 are set
    for (int i = 0; i < 4; i++) nz[i] = pp[16*i +: 15] != 0;
    case (mq)
      2'd0: begin
        q = pp[16 +: 33]; half = pp[15]; rest = nz[0]; over = pp[79:49] != 0;
      end
      2'd1: begin
        q = pp[32 +: 33]; half = pp[31]; rest = nz[0] || pp[15] || nz[1];
        over = pp[79:65] != 0;
      end
      2'd2: begin
        q = {1'b0, pp[48 +: 32]}; half = pp[47];
        rest = nz[0] || pp[15] || nz[1] || pp[31] || nz[2]; over = 0;
      end
      default: begin
        q = {17'd0, pp[64 +: 16]}; half = pp[63];
        rest = nz[0] || pp[15] || nz[1] || pp[31] || nz[2] || pp[47] || nz[3]; over = 0;
      end
    endcase
    // up rounds the magnitude up, by the mode (the order of RoundingMode::ALL) mirrored when
    // the product is negative
    case (insn[8*20 +: 4])
      4'd5: up = neg && (half || rest);          // floor
      4'd6: up = !neg && (half || rest);         // ceil
      4'd7: up = half || rest;                   // away
      4'd8: up = 0;                              // toward_zero
      default:
        if (!half) up = 0;
        else if (rest) up = 1;
        else case (insn[8*20 +: 4])
          4'd0: up = q[0];                       // half_even
          4'd1: up = 1;                          // half_away
          4'd2: up = 0;                          // half_toward_zero
          4'd3: up = !neg;                       // half_up
          default: up = neg;                     // half_down
        endcase
    endcase
    // (an alu's product is exact)
    if (is_alu) up = 0;
  end
  wire [33:0] rounded = {1'b0, q} + {33'd0, up};
  wire signed [N-1:0] magnitude = {{(N-34){1'b0}}, rounded};
  wire signed [N-1:0] signed_q = neg ? -magnitude : magnitude;
  // before saturation: a requantization's rounded quotient, an alu's result, a count (over:
  // the quotient's magnitude does not fit 33 bits); one saturation serves them
  logic signed [N-1:0] pre;
  logic pre_over;
  always_comb begin
    logic signed [N-1:0] a;
    // (one comparison serves max and min)
    logic d_lt;
    d_lt = d < s;
    case (insn[8*4 +: 2])
      2'd0: a = d + s;
      2'd2: a = d_lt ? s : d;
      default: a = d_lt ? d : s;
    endcase
    pre_over = 0;
    case (op)
      REQUANT: begin
        pre = signed_q + zp_out;
        pre_over = over;
      end
      ALU: begin
        pre = (insn[8*4 +: 2] == 2'd1 ? signed_q : a) + nimm(insn[8*47 +: 32]);
        pre_over = insn[8*4 +: 2] == 2'd1 && over;
      end
      default: pre = nimm(insn[8*24 +: 32]) + work;  // THRESH
    endcase
  end
  wire signed [N-1:0] saturated = sat(pre, pre_over, neg, ofmt, obits);
  logic signed [N-1:0] result;
  always_comb begin
    case (op)
      CLAMP: begin
        result = v < nimm(insn[8*14 +: 32]) ? nimm(insn[8*14 +: 32]) : v;
        result = result > nimm(insn[8*22 +: 32]) ? nimm(insn[8*22 +: 32]) : result;
      end
      LUT: result = {{(N-32){lut_rd[31]}}, lut_rd};
      POOL: result = insn[8*4 +: 2] == 2'd0 ? work : wrap(work, cfg_acc_bits);
      default: result = saturated;
    endcase
  end
  // sum pooling wraps at the mode's accumulator width (the sum is kept modulo 2^32 on the way)
  function automatic logic signed [N-1:0] wrap(input logic signed [N-1:0] x, input logic [5:0] b);
    logic [N-1:0] keep;
    keep = ~({N{1'b1}} << b);
    wrap = (x & keep) | (x[6'(b - 6'd1)] ? ~keep : {N{1'b0}});
  endfunction

  // a pool window's running result with the value that arrives
  wire signed [N-1:0] pooled = acc_value(acc_rd);
  wire signed [N-1:0] pool_next;
  wire [31:0] pool_sum = work[31:0] + pooled[31:0];
  assign pool_next = wfirst ? pooled
                   : insn[8*4 +: 2] == 2'd0 ? (work > pooled ? work : pooled)
                   : {{(N-32){pool_sum[31]}}, pool_sum};
  wire last_elem = ec == 0 && ey == 0 && ex == 0;
  wire chan_end = ey == 0 && ex == 0;
  assign acc_we = phase == WR;
  assign acc_wa = e_at[LA-1:0];
  assign acc_wd = result[ACC_BITS-1:0];
  assign r_step = phase == WR;
  assign w_start = phase == P0;
  assign w_step = phase == P1;
  always_comb begin
    acc_ra = e_at[LA-1:0];
    if (phase == V1) acc_ra = r_at[LA-1:0];       // an alu's right operand
    if (phase == P1) acc_ra = w_at[LA-1:0];       // a window position
    if (op == THRESH) par_ra = pa + LP'(k);
    else if (phase == REC) par_ra = pa + LP'(rk);
    else if (phase == V1) par_ra = pa + LP'(2);   // the input zero point, for MS
    else par_ra = pa + LP'(3);                    // the output zero point, for WR
    lut_ra = LL'(insn[8*14 +: 16] + 16'(v - nimm(insn[8*22 +: 32])));
  end

  always_ff @(posedge clk) begin
    done <= 0;
    if (reset) phase <= IDLE;
    else case (phase)
      IDLE: if (go && !done) begin
        phase <= SETUP;
        sstep <= 0;
      end
      SETUP: begin
        sstep <= sstep + 2'd1;
        if (setup_end) begin
          phase <= fz == 0 || fy == 0 || fx == 0 ? FINISH : is_pool ? P0 : V0;
          if (op == REQUANT) phase <= REC;
          e_at <= dst;
          pa <= par;
          rk <= 0;
          ec <= CW'(fz) - CW'(1);
          ey <= CW'(fy) - CW'(1);
          ex <= CW'(fx) - CW'(1);
        end
      end
      REC: begin
        // the record: ask for word rk, take word rk - 1
        rk <= rk + 3'd1;
        case (rk)
          3'd1: begin
            // the multiplier's magnitude, to be shifted left by 16 - shift % 16
            mb <= {16'd0, par_rd[31] ? -par_rd : par_rd};
            mb_neg <= par_rd[31];
          end
          3'd2: begin
            shift <= par_rd[3:0];
            mq <= par_rd[5:4];
            sh <= 4'd15;
            phase <= SH;
          end
          default: ;
        endcase
      end
      V0: phase <= V1;  // the element's value is read
      V1: begin
        v <= acc_value(acc_rd);
        work <= 0;
        k <= 0;
        wlive <= 0;
        case (op)
          ALU: phase <= S1;
          REQUANT: phase <= MS;
          LUT: phase <= L0;
          THRESH: phase <= T0;
          default: phase <= WR;
        endcase
      end
      SH: begin
        if (sh >= shift) mb <= mb << 1;
        sh <= sh - 4'd1;
        if (sh == 0) phase <= V0;
      end
      S1: begin
        t <= acc_value(acc_rd);
        phase <= insn[8*4 +: 2] == 2'd1 ? MS : WR;
      end
      MS: begin
        // the operands' magnitudes and signs (an alu's right operand is not shifted)
        ua <= mag(d);
        ua_neg <= d[N-1];
        if (is_alu) begin
          mb <= {mag(s), 16'd0};
          mb_neg <= s[N-1];
          mq <= 0;
        end
        digit <= 0;
        phase <= MC;
      end
      MC: begin
        if (digit == 0) hi <= partial;
        else begin
          hi <= {16'd0, hi[47:16]} + partial;
          lo <= {hi[15:0], lo[31:16]};
        end
        digit <= digit + 2'd1;
        if (digit == 2'd2) phase <= WR;
      end
      L0: phase <= WR;  // the table is read
      T0: begin
        // ask for threshold k, compare the one asked for last cycle
        if (wlive && nimm(par_rd) <= v) work <= work + N'(1);
        wlive <= k < insn[8*18 +: CW];
        k <= k + CW'(1);
        if (k >= insn[8*18 +: CW]) phase <= WR;
      end
      P0: begin
        phase <= P1;
        wlive <= 0;
      end
      P1: begin
        // ask for window position w_at, take the one asked for last cycle
        wlive <= 1;
        wfirst <= !wlive;
        if (wlive) work <= pool_next;
        if (w_last) phase <= P2;
      end
      P2: begin
        work <= pool_next;
        phase <= WR;
      end
      WR: begin
        // write the result; on to the next element
        e_at <= e_at + AW'(1);
        ex <= ex - CW'(1);
        if (ex == 0) begin
          ex <= CW'(fx) - CW'(1);
          ey <= ey - CW'(1);
          if (ey == 0) begin
            ey <= CW'(fy) - CW'(1);
            ec <= ec - CW'(1);
          end
        end
        if (chan_end) begin
          pa <= pa + pstride[LP-1:0];
          rk <= 0;
        end
        if (last_elem) phase <= FINISH;
        else if (is_pool) phase <= P0;
        else if (op == REQUANT && chan_end && pstride != 0) phase <= REC;
        else phase <= V0;
      end
      default: begin
        phase <= IDLE;
        done <= 1;
      end
    endcase
  end
endmodule

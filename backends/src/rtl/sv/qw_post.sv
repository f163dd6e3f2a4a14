// qw_post: the post-processing unit, LANES accumulators a cycle: `requant`, `clamp`, `alu`,
// `lut`, `thresh` and `pool` (docs/isa.md). Each cycle reads a chunk of LANES consecutive
// results' operands and registers what they become; the next cycle writes them back. A
// threshold chunk compares 8 thresholds per lane and cycle; a pooling chunk reads one window
// position per cycle.
module qw_post #(
    parameter int LANES = 8,
    parameter int ACC_BITS = 32,
    parameter int ACC_N = 1024,
    parameter int PAR_N = 1024,
    parameter int LUT_N = 256
) (
    input  logic                       clk,
    input  logic                       reset,
    input  logic                       go,
    input  logic [511:0]               insn,
    output logic                       done,
    input  logic [5:0]                 cfg_acc_bits,
    input  logic signed [ACC_BITS-1:0] acc_mem [ACC_N],
    input  logic signed [63:0]         par_mem [PAR_N],
    input  logic signed [31:0]         lut_mem [LUT_N],
    output logic [LANES-1:0]           a_en,
    output logic [31:0]                a_addr [LANES],
    output logic signed [ACC_BITS-1:0] a_val [LANES]
);
  localparam logic [7:0] REQUANT = 4, CLAMP = 5, ALU = 6, LUT = 7, THRESH = 8, POOL = 9;

  // the instruction word also holds other opcodes' fields and reserved bytes
  /* verilator lint_off UNUSEDSIGNAL */
  logic [511:0] I;
  /* verilator lint_on UNUSEDSIGNAL */
  logic busy, started;
  wire [7:0] op = I[7:0];
  // the block of results: z channels of y x x, from `dst`
  logic [31:0] dst, n, per, xw;
  always_comb begin
    case (op)
      ALU: begin dst = I[8*5 +: 32]; per = 32'(I[8*15 +: 16]) * 32'(I[8*17 +: 16]);
                 n = per * 32'(I[8*13 +: 16]); xw = 32'(I[8*17 +: 16]); end
      POOL: begin dst = I[8*9 +: 32]; per = 32'(I[8*19 +: 16]) * 32'(I[8*21 +: 16]);
                  n = per * 32'(I[8*13 +: 16]); xw = 32'(I[8*21 +: 16]); end
      default: begin dst = I[8*4 +: 32]; per = 32'(I[8*10 +: 16]) * 32'(I[8*12 +: 16]);
                     n = per * 32'(I[8*8 +: 16]); xw = 32'(I[8*12 +: 16]); end
    endcase
  end

  function automatic logic signed [127:0] sat(input logic signed [127:0] v,
                                              input logic [1:0] fmt, input logic [5:0] bits);
    logic signed [127:0] lo, hi;
    if (fmt == 2'd2) return v < 0 ? -128'sd1 : 128'sd1;
    if (fmt == 2'd0) begin
      hi = (128'sd1 <<< (bits - 1)) - 1;
      lo = -(128'sd1 <<< (bits - 1));
    end else begin
      hi = (128'sd1 <<< bits) - 1;
      lo = 0;
    end
    return v < lo ? lo : (v > hi ? hi : v);
  endfunction

  // x / 2^s rounded by `mode` (the order of RoundingMode::ALL)
  function automatic logic signed [127:0] shift_round(input logic signed [127:0] x,
                                                      input logic [5:0] s, input logic [3:0] mode);
    logic signed [127:0] q, r, half;
    logic up;
    if (s == 0) return x;
    q = x >>> s;
    r = x - (q <<< s);
    half = 128'sd1 <<< (s - 1);
    case (mode)
      4'd5: up = 0;                                  // floor
      4'd6: up = r != 0;                             // ceil
      4'd7: up = r != 0 && x >= 0;                   // away
      4'd8: up = r != 0 && x < 0;                    // toward_zero
      default:
        if (r < half) up = 0;
        else if (r > half) up = 1;
        else case (mode)
          4'd0: up = q[0];                           // half_even
          4'd1: up = q >= 0;                         // half_away
          4'd2: up = q < 0;                          // half_toward_zero
          4'd3: up = 1;                              // half_up
          default: up = 0;                           // half_down
        endcase
    endcase
    return q + (up ? 128'sd1 : 128'sd0);
  endfunction

  // progress: `at` is the chunk's first result, `step` its window position or threshold block
  logic [31:0] at, step, steps;
  logic signed [127:0] work [LANES];
  logic [LANES-1:0] pend_en;
  logic [31:0] pend_at;
  logic signed [ACC_BITS-1:0] pend_val [LANES];

  logic signed [127:0] nwork [LANES];
  logic signed [ACC_BITS-1:0] result [LANES];
  logic [LANES-1:0] lane_live;
  always_comb begin
    logic [31:0] e, ch, rem, ri, rj, srcaddr, pa;
    logic signed [127:0] v, s, t;
    logic [31:0] ky, kx;
    for (int l = 0; l < LANES; l++) begin
      e = at + 32'(l);
      lane_live[l] = busy && started && e < n;
      ch = per == 0 ? 0 : e / per;
      rem = per == 0 ? 0 : e % per;
      ri = xw == 0 ? 0 : rem / xw;
      rj = xw == 0 ? 0 : rem % xw;
      v = 128'(acc_mem[(dst + e) % ACC_N]);
      nwork[l] = work[l];
      result[l] = 0;
      case (op)
        REQUANT: begin
          pa = I[8*14 +: 32] + ch * 32'(I[8*18 +: 16]);
          s = (v - 128'(par_mem[(pa + 2) % PAR_N])) * 128'(par_mem[pa % PAR_N]);
          t = shift_round(s, par_mem[(pa + 1) % PAR_N][5:0], I[8*20 +: 4]);
          result[l] = ACC_BITS'(sat(t + 128'(par_mem[(pa + 3) % PAR_N]), I[8*21 +: 2], I[8*22 +: 6]));
        end
        CLAMP: begin
          t = 128'($signed(I[8*14 +: 64]));
          s = 128'($signed(I[8*22 +: 64]));
          result[l] = ACC_BITS'(v < t ? t : (v > s ? s : v));
        end
        ALU: begin
          srcaddr = I[8*9 +: 32] + ch * I[8*19 +: 32] + ri * I[8*23 +: 32] + rj * I[8*27 +: 32];
          s = v - 128'($signed(I[8*31 +: 64]));
          t = 128'(acc_mem[srcaddr % ACC_N]) - 128'($signed(I[8*39 +: 64]));
          case (I[8*4 +: 2])
            2'd0: s = s + t;
            2'd1: s = s * t;
            2'd2: s = s > t ? s : t;
            default: s = s < t ? s : t;
          endcase
          result[l] = ACC_BITS'(sat(s + 128'($signed(I[8*47 +: 64])), I[8*55 +: 2], I[8*56 +: 6]));
        end
        LUT: begin
          t = v - 128'($signed(I[8*22 +: 64]));
          result[l] = ACC_BITS'(lut_mem[(I[8*14 +: 32] + 32'(t)) % LUT_N]);
        end
        THRESH: begin
          pa = I[8*14 +: 32] + ch * I[8*20 +: 32];
          if (step == 0) nwork[l] = 0;
          for (int k = 0; k < 8; k++) begin
            if (step * 8 + 32'(k) < 32'(I[8*18 +: 16])
                && par_mem[(pa + step * 8 + 32'(k)) % PAR_N] <= 64'(v))
              nwork[l] = nwork[l] + 1;
          end
          result[l] = ACC_BITS'(sat(128'($signed(I[8*24 +: 64])) + nwork[l], I[8*32 +: 2], I[8*33 +: 6]));
        end
        default: begin  // POOL: window position `step` of each output
          ky = step / 32'(I[8*24 +: 8]);
          kx = step % 32'(I[8*24 +: 8]);
          srcaddr = I[8*5 +: 32]
                  + (ch * 32'(I[8*15 +: 16]) + ri * 32'(I[8*25 +: 8]) + ky * 32'(I[8*27 +: 8]))
                    * 32'(I[8*17 +: 16])
                  + rj * 32'(I[8*26 +: 8]) + kx * 32'(I[8*28 +: 8]);
          t = 128'(acc_mem[srcaddr % ACC_N]);
          if (step == 0) nwork[l] = t;
          else if (I[8*4 +: 2] == 2'd0) nwork[l] = nwork[l] > t ? nwork[l] : t;
          else nwork[l] = nwork[l] + t;
          // sum pooling wraps at the mode's accumulator width
          s = I[8*4 +: 2] == 2'd0 ? nwork[l]
            : ((nwork[l] <<< (8'd128 - 8'(cfg_acc_bits))) >>> (8'd128 - 8'(cfg_acc_bits)));
          result[l] = ACC_BITS'(s);
        end
      endcase
    end
  end

  always_comb begin
    for (int l = 0; l < LANES; l++) begin
      a_en[l] = pend_en[l];
      a_addr[l] = dst + pend_at + 32'(l);
      a_val[l] = pend_val[l];
    end
  end

  wire last_step = step + 1 >= steps;
  always_ff @(posedge clk) begin
    done <= 0;
    pend_en <= 0;
    if (reset) begin
      busy <= 0;
      started <= 0;
    end else if (!busy) begin
      if (go && !done) begin
        I <= insn;
        busy <= 1;
        started <= 0;
      end
    end else if (!started) begin
      started <= 1;
      at <= 0;
      step <= 0;
      case (op)
        THRESH: steps <= (32'(I[8*18 +: 16]) + 7) / 8 == 0 ? 1 : (32'(I[8*18 +: 16]) + 7) / 8;
        POOL: steps <= 32'(I[8*23 +: 8]) * 32'(I[8*24 +: 8]);
        default: steps <= 1;
      endcase
    end else if (at < n) begin
      work <= nwork;
      step <= step + 1;
      if (last_step) begin
        step <= 0;
        at <= at + LANES;
        pend_en <= lane_live;
        pend_at <= at;
        pend_val <= result;
      end
    end else begin
      busy <= 0;
      done <= 1;
    end
  end
endmodule

// qw_ucode: the serial datapath's post-processing unit, a 16-bit micro-machine running the
// microcode of `requant`, `clamp`, `alu`, `lut`, `thresh` and `pool` (qweave_hw::ucode, which
// specifies every op and runs it exactly; the ROM and the register file's constants are
// generated into qw_ucode_rom and qw_ucode_regs). Three stages: the ROM read, the register
// file read (two ports, the A address plus X when the op says so), execution. A taken
// transfer discards the two ops behind it. The microcode keeps an op from reading a register
// the op before it writes, and from using X right after setting it.
module qw_ucode #(
    parameter int ACC_BITS = 32,
    parameter int LA = 10,        // address bits of the accumulator, parameter and table memories
    parameter int LP = 6,
    parameter int LL = 8
) (
    input  logic                clk,
    input  logic                reset,
    input  logic                go,
    input  logic [7:0]          opcode,
    // the program port's beats: every instruction's sixteen, in order, arrive before it runs
    input  logic                i_valid,
    input  logic [31:0]         i_data,
    output logic                done,
    input  logic [5:0]          cfg_acc_bits,
    output logic [LA-1:0]       acc_ra,
    input  logic [ACC_BITS-1:0] acc_rd,
    output logic                acc_we,
    output logic [LA-1:0]       acc_wa,
    output logic [ACC_BITS-1:0] acc_wd,
    output logic [LP-1:0]       par_ra,
    input  logic [31:0]         par_rd,
    output logic [LL-1:0]       lut_ra,
    input  logic [31:0]         lut_rd
);
  // ---- the micro-op's fields (qweave_hw::ucode::Uop::encode) ----
  localparam logic [3:0] ADD = 0, SUB = 1, AND = 2, OR = 3, XOR = 4, SEL = 5, BYTE = 6,
                         SGN = 7, BIT = 8;
  localparam logic [3:0] RD_ACC = 1, RD_PAR = 2, RD_LUT = 3, WR_ACC = 4, SET_X = 5,
                         SET_H = 6, MUL = 7, JMP = 8, BRF = 9, BRNF = 10, CALL = 11, RET = 12,
                         DONE = 13, DISPATCH = 14;

  logic running;
  logic [8:0] pc;          // the op the ROM reads this cycle
  logic fv, ev;            // the op read from the ROM, and the op executing, are valid
  /* verilator lint_off UNUSEDSIGNAL */
  logic [47:0] fw, ew;     // their words (44 bits used)
  /* verilator lint_on UNUSEDSIGNAL */
  logic [8:0] entry;       // the running opcode's routine
  qw_ucode_rom rom (.clk, .addr(pc), .data(fw), .opcode, .entry);

  // ---- the register file's read (the fetched op) ----
  logic [7:0] x;
  logic [15:0] ra_d, rb_d;
  logic rf_we;
  logic [7:0] rf_wa;
  logic [15:0] rf_wd;
  qw_ucode_regs regs (
      .clk, .we(rf_we), .wa(rf_wa), .wd(rf_wd),
      .ra_a(fw[18:11] + (fw[10] ? x : 8'd0)), .rd_a(ra_d), .ra_b(fw[26:19]), .rd_b(rb_d));
  // the instruction's copy: beat k (digits 2k and 2k + 1) at entry k; a digit is read as a
  // register is, and its half picked as the op executes
  logic [3:0] beat;
  always_ff @(posedge clk) begin
    if (reset) beat <= 0;
    else if (i_valid) beat <= beat + 4'd1;
  end
  logic [31:0] ins_rd;
  logic ins_hi;
  qw_ram #(.N(16), .LOG(4), .W(32)) copy (
      .clk, .we(i_valid), .wa(beat), .wd(i_data), .ra(fw[23:20]), .rd(ins_rd));
  always_ff @(posedge clk) ins_hi <= fw[19];
  wire [15:0] ins_d = ins_hi ? ins_rd[31:16] : ins_rd[15:0];

  // ---- execution ----
  wire [3:0] alu = ew[3:0], act = ew[42:39], src = ew[38:35];
  wire [1:0] cin_k = ew[5:4];
  wire [2:0] flag_k = ew[8:6];
  wire transfer = act == JMP || act == BRF || act == BRNF || act == CALL;
  wire [8:0] target = {ew[43], ew[26:19]};
  logic c, f;
  logic [15:0] h;
  logic [31:0] p;
  logic [8:0] ret;
  wire [15:0] a = ra_d;
  logic [15:0] b;
  always_comb begin
    case (src)
      4'd0: b = transfer ? 16'd0 : rb_d;
      4'd1: b = acc_rd[15:0];
      4'd2: b = 16'(acc_rd[ACC_BITS-1:16]);
      4'd3: b = par_rd[15:0];
      4'd4: b = par_rd[31:16];
      4'd5: b = lut_rd[15:0];
      4'd6: b = lut_rd[31:16];
      4'd7: b = p[15:0];
      4'd8: b = p[31:16];
      4'd9: b = ins_d;
      default: b = {10'd0, cfg_acc_bits};
    endcase
  end
  logic cin;
  always_comb begin
    case (cin_k)
      2'd0: cin = 0;
      2'd1: cin = 1;
      2'd2: cin = c;
      default: cin = f;
    endcase
  end
  wire [16:0] sum = {1'b0, a} + {1'b0, alu == SUB ? ~b : b} + {16'd0, cin};
  logic [15:0] r;
  always_comb begin
    case (alu)
      ADD, SUB: r = sum[15:0];
      AND: r = a & b;
      OR: r = a | b;
      XOR: r = a ^ b;
      SEL: r = f ? a : b;
      BYTE: r = {b[7:0], a[15:8]};
      SGN: r = {16{b[15]}};
      BIT: r = {15'd0, a[b[3:0]]};
      default: r = 16'd0;
    endcase
  end
  logic f_new;
  always_comb begin
    case (flag_k)
      3'd1: f_new = alu == ADD || alu == SUB ? sum[16] : c;
      3'd2: f_new = r != 0;
      3'd3: f_new = f || r != 0;
      3'd4: f_new = r[15];
      3'd5: f_new = r[0];
      default: f_new = f;
    endcase
  end
  logic taken;
  logic [8:0] to;
  always_comb begin
    taken = ev;
    to = target;
    case (act)
      JMP, CALL: ;
      BRF: taken = ev && f_new;
      BRNF: taken = ev && !f_new;
      RET: to = ret;
      DISPATCH: to = entry;
      default: taken = 0;
    endcase
  end
  wire finish = ev && act == DONE;

  assign rf_we = ev && ew[9];
  assign rf_wa = ew[34:27];
  assign rf_wd = r;
  // the memories' read addresses hold until the next read
  logic [LA-1:0] acc_rq;
  logic [LP-1:0] par_rq;
  logic [LL-1:0] lut_rq;
  assign acc_ra = ev && act == RD_ACC ? r[LA-1:0] : acc_rq;
  assign par_ra = ev && act == RD_PAR ? r[LP-1:0] : par_rq;
  assign lut_ra = ev && act == RD_LUT ? r[LL-1:0] : lut_rq;
  assign acc_we = ev && act == WR_ACC;
  assign acc_wa = a[LA-1:0];
  assign acc_wd = ACC_BITS'({h, b});

  always_ff @(posedge clk) begin
    acc_rq <= acc_ra;
    par_rq <= par_ra;
    lut_rq <= lut_ra;
    if (ev) begin
      if (alu == ADD || alu == SUB) c <= sum[16];
      f <= f_new;
      case (act)
        SET_X: x <= r[7:0];
        SET_H: h <= r;
        MUL: p <= a * b;
        CALL: ret <= pc - 9'd1;  // (pc is two ahead of the call: one past its next op)
        default: ;
      endcase
    end
  end

  // ---- sequencing ----
  always_ff @(posedge clk) begin
    done <= 0;
    ew <= fw;
    if (reset) begin
      running <= 0;
      pc <= 0;
      fv <= 0;
      ev <= 0;
    end else if (!running) begin
      if (go && !done) begin
        running <= 1;
        pc <= 1;
        fv <= 1;
      end
    end else if (finish) begin
      running <= 0;
      done <= 1;
      pc <= 0;
      fv <= 0;
      ev <= 0;
    end else begin
      ev <= fv && !taken;
      fv <= !taken;
      pc <= taken ? to : pc + 9'd1;
    end
  end
endmodule

// qw_ram: a memory with one write port and one registered read port (the data of the address
// presented in one cycle comes out in the next). A read of the entry written in the same cycle
// is undefined, as in an iCE40 block RAM: the simulation model returns that entry's bits
// inverted, so a design that relies on it fails its tests. For the iCE40 (accel.sv defines
// QW_ICE40_BLOCKS when synthesized for it) it is built of SB_RAM40_4K blocks: one in 512 x 8
// mode for at most 512 entries of at most 8 bits, else 256 x 16 blocks side by side and
// stacked, the read port's upper address bits registered to pick a stack's output.
// (Inferred, yosys would add logic to every memory to emulate a defined read-during-write.)
// Other synthesis infers it: a plain synchronous read, which block RAMs such as Xilinx's
// RAMB36E2 hold as they are.
module qw_ram #(
    parameter int N = 256,    // entries, a power of two
    parameter int LOG = 8,    // log2(N)
    parameter int W = 8       // bits per entry
) (
    input  logic           clk,
    input  logic           we,
    input  logic [LOG-1:0] wa,
    input  logic [W-1:0]   wd,
    input  logic [LOG-1:0] ra,
    output logic [W-1:0]   rd
);
`ifdef QW_ICE40_BLOCKS
  if (W <= 8 && N <= 512) begin : narrow
    // 512 x 8: data on the even bits
    logic [15:0] wide_wd, wide_rd;
    for (genvar b = 0; b < 8; b++) begin : bit_
      assign wide_wd[2*b+1] = 1'b0;
      if (b < W) begin : used
        assign wide_wd[2*b] = wd[b];
        assign rd[b] = wide_rd[2*b];
      end else begin : unused
        assign wide_wd[2*b] = 1'b0;
      end
    end
    SB_RAM40_4K #(.READ_MODE(1), .WRITE_MODE(1)) block (
        .RDATA(wide_rd), .RCLK(clk), .RCLKE(1'b1), .RE(1'b1), .RADDR(11'(ra)),
        .WCLK(clk), .WCLKE(1'b1), .WE(we), .WADDR(11'(wa)), .MASK(16'd0), .WDATA(wide_wd));
  end else begin : wide
    localparam int COLS = (W + 15) / 16;
    localparam int STACK = N > 256 ? N / 256 : 1;
    localparam int SEL = LOG > 8 ? LOG - 8 : 1;
    logic [COLS*16-1:0] padded_wd;
    logic [STACK*COLS*16-1:0] outs;
    assign padded_wd = (COLS*16)'(wd);
    logic [SEL-1:0] picked;  // the stack the read address presented last cycle is in
    always_ff @(posedge clk) picked <= LOG > 8 ? SEL'(ra >> 8) : '0;
    for (genvar s = 0; s < STACK; s++) begin : stack
      wire here = LOG > 8 ? SEL'(wa >> 8) == SEL'(s) : 1'b1;
      for (genvar c = 0; c < COLS; c++) begin : col
        SB_RAM40_4K #(.READ_MODE(0), .WRITE_MODE(0)) block (
            .RDATA(outs[(s*COLS+c)*16 +: 16]), .RCLK(clk), .RCLKE(1'b1), .RE(1'b1),
            .RADDR(11'(ra[LOG > 8 ? 7 : LOG-1:0])), .WCLK(clk), .WCLKE(1'b1),
            .WE(we && here), .WADDR(11'(wa[LOG > 8 ? 7 : LOG-1:0])), .MASK(16'd0),
            .WDATA(padded_wd[c*16 +: 16]));
      end
    end
    assign rd = W'(outs[picked*COLS*16 +: COLS*16]);
  end
`else
  logic [W-1:0] mem [0:N-1];
  always_ff @(posedge clk) begin
    if (we) mem[wa] <= wd;
`ifdef SYNTHESIS
    rd <= mem[ra];
`else
    rd <= we && wa == ra ? ~mem[ra] : mem[ra];
`endif
  end
`endif
endmodule

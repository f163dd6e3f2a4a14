// qw_spram: the board's memory, 128 KiB as 32K words of 32 bits with a write enable per
// nibble: on the iCE40 UP5K's four SB_SPRAM256KA (two banks of two 16-bit halves) when
// accel.sv defines QW_ICE40_BLOCKS, else (other synthesis, and simulation) as eight 32K x 4
// arrays, one per nibble: block RAMs, whose write enables are per byte at best. A read's
// word comes the next cycle.
module qw_spram (
    input  logic        clk,
    input  logic        en,
    input  logic        we,
    input  logic [14:0] addr,
    input  logic [31:0] wd,
    input  logic [7:0]  nibbles,   // nibble k is wd[4k +: 4]
    output logic [31:0] rd
);
`ifdef QW_ICE40_BLOCKS
  logic bank;
  logic [63:0] out;
  always_ff @(posedge clk) if (en) bank <= addr[14];
  for (genvar b = 0; b < 2; b++) begin : banks
    for (genvar h = 0; h < 2; h++) begin : halves
      SB_SPRAM256KA ram (
          .ADDRESS(addr[13:0]), .DATAIN(wd[16*h +: 16]), .MASKWREN(nibbles[4*h +: 4]),
          .WREN(we), .CHIPSELECT(en && addr[14] == b[0]), .CLOCK(clk), .STANDBY(1'b0),
          .SLEEP(1'b0), .POWEROFF(1'b1), .DATAOUT(out[32*b + 16*h +: 16]));
    end
  end
  assign rd = bank ? out[63:32] : out[31:0];
`else
  for (genvar k = 0; k < 8; k++) begin : nibble
    // (yosys 0.23 would map it to LUT RAM, and fail to)
    (* ram_style = "block" *) logic [3:0] mem [0:32767];
    always_ff @(posedge clk) begin
      if (en && we) begin
        if (nibbles[k]) mem[addr] <= wd[4*k +: 4];
      end else if (en) rd[4*k +: 4] <= mem[addr];
    end
  end
`endif
endmodule

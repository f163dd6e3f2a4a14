// qw_ram: a memory with one write port and one registered read port (the data of the address
// presented in one cycle comes out in the next; a read of the entry written in the same cycle
// returns its old value). It is what an iCE40 EBR or a Xilinx block RAM holds, so synthesis
// maps it to them.
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
  logic [W-1:0] mem [0:N-1];
  always_ff @(posedge clk) begin
    if (we) mem[wa] <= wd;
    rd <= mem[ra];
  end
endmodule
